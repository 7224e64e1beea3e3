"""Plain stochastic gradient descent: p <- p - lr * dL/dp."""

from __future__ import annotations

from rnnbench.api import Optimizer, hookimpl


class SGD(Optimizer):
    """Plain SGD: p <- p - lr g (Robbins & Monro 1951)."""

    name = "sgd"

    def step(self, weights, grads) -> None:
        for name, w in weights.items():
            w -= self.learning_rate * grads[name]


@hookimpl
def rnnbench_register_optimizers():
    return [SGD]
