"""Do the same seeds give the same selections and verdicts on the CPU and on
the GPU? One small suite of torch cells, run whole (tuning, evaluation,
findings) once on each device, in float64 and in float32, and compared.

    python -m benchmarks.device_check [--devices cpu cuda [cuda]] [--dtypes float64 float32] [--out DIR]

The suite (:func:`torch_suite`) trains a tanh RNN and an LSTM written in
torch (``torch_vanilla``, ``torch_lstm``: the cells that run on a GPU) on the
adding problem at T = 30, 300 Adam steps, a budget of two learning rates and
eight evaluation seeds, and checks three findings chosen to be decided either
way. For each dtype it prints

- whether every variant selected the same learning rate on both devices,
- whether every finding got the same outcome,
- the largest relative difference between the two devices' stored numbers of
  the same run (final test and validation loss, k-hat at initialisation and
  after training), over every run, tuning trials included,
- the smallest relative margin by which a tuning selection was won (tuning's
  own scores): a
  selection can differ between devices only where that margin is no larger
  than the devices' difference.

With ``--devices cpu cuda cuda`` the GPU runs the suite twice, and the
script also says whether the GPU repeats itself bit for bit (what the store's
resumption takes for granted). It exits 1 when a selection or a verdict
differs, 0 otherwise. Without a GPU
(``--devices cpu cpu``) it compares the CPU with itself, which must agree
exactly: that is how the test suite checks this script.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

NUMBERS = ("final_test_loss", "final_validation_loss", "k_hat_init", "k_hat_final")


def torch_suite(dtype: str, steps: int | None = None, seeds: int | None = None) -> dict:
    """A suite of the two torch cells that run on a GPU here, small enough for
    minutes, with findings of each outcome: a tanh RNN and an LSTM on the adding
    problem at T = 30, a budget of two Adam rates, eight evaluation seeds."""
    suite = {
        "name": f"device_check_{dtype}", "task": {"name": "adding"}, "seq_lens": [30], "seeds": list(range(8)),
        "train": {"optimizer": "adam", "steps": 300, "batch_size": 32, "log_every": 100, "test_size": 128,
                  "validation_size": 128, "dtype": dtype},
        "tuning": {"budget": 2, "seeds": [100], "search": [{"name": "learning_rate", "values": [0.003, 0.03]}]},
        "variants": [
            {"name": "tanh", "cell": "torch_vanilla", "activation": "tanh", "init": "normal", "hidden_size": 32},
            {"name": "LSTM", "cell": "torch_lstm", "hidden_size": 32,
             "remedies": [{"name": "clip_norm", "threshold": 1.0}]},
        ],
        "findings": [  # decided either way here, so that a difference would show
            {"claim": "The tanh RNN's gradient decays at initialisation (k-hat below 0.95)", "source": "-",
             "variant": "tanh", "measure": "k_hat_init", "below": 0.95},
            {"claim": "The LSTM's gradient does not decay at initialisation (k-hat above 0.95)", "source": "-",
             "variant": "LSTM", "measure": "k_hat_init", "above": 0.95},
            {"claim": "The LSTM ends below the tanh RNN's loss", "source": "-",
             "variant": "LSTM", "measure": "loss_over_baseline", "below": "tanh"},
        ],
    }
    if steps is not None:
        suite["train"] = {**suite["train"], "steps": steps, "log_every": steps}
    if seeds is not None:
        suite["seeds"] = suite["seeds"][:seeds]
    return suite


def run_on(suite: dict, device: str, out: str):
    """The suite run on ``device`` into ``out``: its runs and findings
    (DataFrames) and its closest tuning margin."""
    import rnnbench

    if device == "cuda":  # four worker processes share the GPU
        results = rnnbench.run(suite, out=out, device=device, report=False, workers_per_gpu=4)
    else:
        results = rnnbench.run(suite, out=out, device=device, report=False, jobs=max(1, (os.cpu_count() or 2) // 2))
    runs = results.runs()
    if not (runs["status"] == "ok").all():
        raise SystemExit(f"device_check: not every run on {device} ended ok: {runs['status'].value_counts().to_dict()}")
    return runs, results.findings(), closest_margin(results)


def selections(runs) -> dict:
    """(variant, seq_len) -> the learning rate its evaluation runs were trained with."""
    chosen = runs[runs["role"] == "evaluation"]
    return {(r.variant, int(r.seq_len)): float(r.learning_rate) for r in chosen.itertuples()}


def closest_margin(results) -> float:
    """The smallest relative gap, over every (variant, seq_len), between the
    tuning score of the trial selected and of the runner-up, as
    :func:`rnnbench.tuning.select` scores them."""
    from rnnbench import tuning

    trials = [r for r in results.records if r.spec.trial is not None]
    margin = math.inf
    for selection in tuning.select(results.suite, trials):
        scores = sorted(t.score for t in selection.trials)
        if selection.goal == "max":
            scores.reverse()
        if len(scores) > 1 and math.isfinite(scores[1]):
            margin = min(margin, abs(scores[1] - scores[0]) / abs(scores[0]))
    return margin


def largest_difference(a, b) -> tuple[float, str]:
    """The largest relative difference between the same run's stored numbers in
    ``a`` and ``b`` (matched by run key), and which number it was."""
    joined = a[["key", *NUMBERS]].merge(b[["key", *NUMBERS]], on="key", suffixes=("", "_b"))
    if len(joined) != len(a) or len(joined) != len(b):
        raise SystemExit(f"device_check: the two devices stored different runs ({len(a)} and {len(b)} keys)")
    worst, which = 0.0, "-"
    for name in NUMBERS:
        x, y = joined[name].astype(float), joined[f"{name}_b"].astype(float)
        rel = ((x - y).abs() / y.abs().clip(lower=1e-300)).max()
        if rel > worst:
            worst, which = float(rel), name
    return worst, which


def compare(first: tuple, second: tuple) -> dict:
    """Compare the (runs, findings, closest tuning margin) of two devices."""
    (runs_a, found_a, margin_a), (runs_b, found_b, margin_b) = first, second
    outcome = lambda f: {(r.claim, int(r.seq_len)): r.outcome for r in f.itertuples()}  # noqa: E731
    difference, which = largest_difference(runs_a, runs_b)
    return {
        "same_selections": selections(runs_a) == selections(runs_b),
        "same_verdicts": outcome(found_a) == outcome(found_b),
        "largest_relative_difference": difference,
        "in": which,
        "closest_tuning_margin": min(margin_a, margin_b),
        "outcomes": outcome(found_a),
        "outcomes_other": outcome(found_b),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", nargs="+", default=["cpu", "cuda"], choices=("cpu", "cuda"),
                        help="the first is compared with each of the others; a device named twice is run twice")
    parser.add_argument("--dtypes", nargs="+", default=["float64", "float32"], choices=("float64", "float32"))
    parser.add_argument("--steps", type=int, default=None, help="cut the suite's training steps (a quicker check)")
    parser.add_argument("--seeds", type=int, default=None, help="keep only this many evaluation seeds")
    parser.add_argument("--out", default=None, help="keep the results here (default: a temporary directory)")
    args = parser.parse_args(argv)

    if "cuda" in args.devices:
        import torch

        if not torch.cuda.is_available():
            print("device_check: torch sees no GPU here; compare the CPU with itself with --devices cpu cpu")
            return 2
        print(f"GPU: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA {torch.version.cuda}")
    from benchmarks.compare_pytorch import machine

    for line in machine():
        print(line)
    agree = True
    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or scratch
        for dtype in args.dtypes:
            suite = torch_suite(dtype, args.steps, args.seeds)
            done = [run_on(suite, device, os.path.join(out, f"{device}-{k}")) for k, device in enumerate(args.devices)]
            for k in range(1, len(done)):
                c = compare(done[0], done[k])
                agree = agree and c["same_selections"] and c["same_verdicts"]
                against = f"{args.devices[0]} against {args.devices[k]}" + (" (a second run)" if k > 1 else "")
                print(f"\n{dtype}, {against}, {len(done[0][0])} runs each:")
                print(f"  same selections: {'yes' if c['same_selections'] else 'NO'}")
                print(f"  same verdicts:   {'yes' if c['same_verdicts'] else 'NO'}")
                print(f"  largest relative difference of a run's numbers: {c['largest_relative_difference']:.2e} "
                      f"({c['in']})")
                print(f"  closest tuning margin (relative validation loss): {c['closest_tuning_margin']:.2e}")
                if k > 1:  # the same device again: is it bit-identical run to run?
                    again = largest_difference(done[1][0], done[k][0])[0]
                    print(f"  {args.devices[1]} against itself, run again: largest relative difference {again:.2e}")
                for (claim, seq_len), outcome in c["outcomes"].items():
                    other = c["outcomes_other"].get((claim, seq_len))
                    same = "" if other == outcome else f"   <- {args.devices[k]}: {other}"
                    print(f"    T={seq_len} {outcome:>12}: {claim}{same}")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
