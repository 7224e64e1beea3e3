"""A recurrent cell contributed by a plugin (tests/fixtures/indrnn_plugin.py,
the example of the plugin guide, plugins/README.md): its gradients checked from
the command line with the cell's own defaults, a suite trained with it, and
clear errors when a remedy does not fit it or the cell crashes."""

from __future__ import annotations

import json
from pathlib import Path

from command import rnnbench
from docs import PLUGINS

PLUGIN = Path(__file__).parent / "fixtures" / "indrnn_plugin.py"

SUITE = """
name = "my_indrnn"
seq_lens = [8]
seeds = [0]
[task]
name = "adding"
[train]
steps = 20
batch_size = 4
log_every = 10
test_size = 8
[[variants]]
name = "IndRNN"
cell = "my_indrnn"
activation = "relu"
init = "normal"
hidden_size = 6
remedies = [{ name = "clip_norm", threshold = 1.0 }]
[[variants]]
name = "IndRNN + layer norm"
cell = "my_indrnn"
activation = "relu"
init = "normal"
hidden_size = 6
remedies = ["layer_norm"]
"""

CRASHING = """
from rnnbench import hookimpl
from indrnn_plugin import MyIndRNN


class Crashing(MyIndRNN):
    name = "crashing"

    def backward(self, params, cache, dh_out, truncate=None, loss_steps=None):
        raise RuntimeError("backward is not written yet")


@hookimpl
def rnnbench_register_cells():
    return [Crashing]
"""



def test_gradcheck_of_a_plugin_cell_takes_the_cells_own_activation_and_init(tmp_path):
    done = rnnbench("gradcheck", "--plugin", str(PLUGIN), "--cell", "my_indrnn", "--remedy", "layer_norm",
                    cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "cell my_indrnn, activation relu, init normal, layer_norm" in done.stdout
    assert done.stdout.count(": ok") == 2  # many-to-one MSE and many-to-many cross-entropy


def test_a_suite_trains_a_plugin_cell_and_reports_its_gradient_decay(tmp_path):
    (tmp_path / "suite.toml").write_text(SUITE)
    done = rnnbench("run", "suite.toml", "--plugin", str(PLUGIN), "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "report: reports/my_indrnn/index.html"
    records = [json.loads(p.read_text()) for p in (tmp_path / "results" / "my_indrnn" / "runs").glob("*.json")]
    assert sorted(r["status"] for r in records) == ["ok", "ok"]
    for record in records:
        profile = record["decay"][0]["norms"]
        assert len(profile) == 8 and all(v > 0 for v in profile)
        assert 0.0 < record["decay"][0]["bound"] < 1.0  # ||diag(u)||_2 max|relu'| = max u, u ~ U(0, 1)


def test_a_remedy_that_reshapes_a_plugin_cells_weights_is_refused_naming_it(tmp_path):
    done = rnnbench("gradcheck", "--plugin", str(PLUGIN), "--cell", "my_indrnn", "--remedy", "orthogonal_init",
                    cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "remedy 'orthogonal_init' changed the shape of W_hh from (4,) to (4, 4)" in lines[0]


def test_a_crashing_plugin_cell_is_one_line_naming_it(tmp_path):
    (tmp_path / "indrnn_plugin.py").write_text(PLUGIN.read_text())
    (tmp_path / "crashing_cell.py").write_text(CRASHING)
    done = rnnbench("gradcheck", "--plugin", "crashing_cell.py", "--cell", "crashing", cwd=tmp_path)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert ("error: command line: cell 'crashing' or a remedy raised RuntimeError: "
            "backward is not written yet") in done.stderr


def test_the_plugin_guides_cell_example_is_the_tested_plugin():
    guide = PLUGINS.read_text(encoding="utf-8")  # plugins/README.md, "A new cell"
    section = guide[guide.index("### A new cell"):]
    shown = section[section.index("```python\n") + len("```python\n"):section.index("\n```\n")]
    assert "def backward" in shown
    assert shown in PLUGIN.read_text()
