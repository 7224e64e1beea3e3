"""rnnbench: benchmark remedies for vanishing and exploding gradients in RNNs."""

from importlib.metadata import PackageNotFoundError, version

from rnnbench.hookspecs import hookimpl

try:
    __version__ = version("rnnbench")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["hookimpl", "__version__"]
