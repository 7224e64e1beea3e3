"""A remedy from its own installable package, found through the entry-point
group like the built-ins; and the same module loaded unpackaged with --plugin."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from command import rnnbench

PACKAGE = Path(__file__).parent / "fixtures" / "spectral_plugin"

SUITE = """
name = "spectral"
seq_lens = [6]
seeds = [0]
[task]
name = "adding"
[train]
steps = 10
batch_size = 4
log_every = 5
test_size = 8
[[variants]]
name = "plain"
hidden_size = 6
[[variants]]
name = "spectral 0.5"
hidden_size = 6
remedies = [{ name = "spectral_init", norm = 0.5 }]
"""



@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """pip-installs the package into a directory of its own; returns an environment that sees it."""
    target = tmp_path_factory.mktemp("site")
    source = tmp_path_factory.mktemp("src") / "spectral_plugin"
    shutil.copytree(PACKAGE, source)  # build in a copy: nothing is written into the repository
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
         "--target", str(target), str(source)],
        check=True, capture_output=True, text=True, timeout=300,
    )
    assert list(target.glob("rnnbench_spectral-0.1.0.dist-info"))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(target), env.get("PYTHONPATH")]))
    return env


def test_the_installed_plugin_is_listed_with_its_distribution(installed, tmp_path):
    done = rnnbench("plugins", cwd=tmp_path, env=installed)
    assert done.returncode == 0, done.stderr
    line = next(l for l in done.stdout.splitlines() if l.split()[:1] == ["spectral_init"])
    assert "spectral (rnnbench-spectral 0.1.0)" in line
    assert "warning" not in done.stderr


def test_a_suite_uses_the_installed_remedy_beside_the_builtins(installed, tmp_path):
    (tmp_path / "s.toml").write_text(SUITE)
    assert rnnbench("gradcheck", "s.toml", cwd=tmp_path, env=installed).returncode == 0
    done = rnnbench("run", "s.toml", "-q", cwd=tmp_path, env=installed)
    assert done.returncode == 0, done.stderr
    records = [json.loads(p.read_text()) for p in (tmp_path / "results/spectral/runs").glob("*.json")]
    spectral = next(r for r in records if r["spec"]["variant"]["name"] == "spectral 0.5")
    assert spectral["status"] == "ok"
    assert spectral["decay"][0]["recurrent_norm"] == pytest.approx(0.5, rel=1e-5)


def test_without_the_package_the_name_is_unknown(tmp_path):
    (tmp_path / "s.toml").write_text(SUITE)
    done = rnnbench("validate", "s.toml", cwd=tmp_path)
    assert done.returncode == 2 and "unknown remedy 'spectral_init'" in done.stderr


def test_the_same_module_loads_unpackaged_with_plugin(tmp_path):
    (tmp_path / "s.toml").write_text(SUITE)
    module = str(PACKAGE / "rnnbench_spectral.py")
    done = rnnbench("run", "s.toml", "-q", "--plugin", module, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "ran 2 of 2 runs (ok 2" in done.stdout
