"""A refused command prints one line, ``error: <what is wrong and the fix>``, and exits 1: no traceback, for
every package's commands. ``POSEAWARE_TRACEBACK=1`` shows where it was raised.

The commands start through ``python -m`` (``runpy``, as in ``test_cli``) in one subprocess, so torch is
imported once."""
import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

DRIVER = r"""
import contextlib, io, json, runpy, sys, warnings
from hydra.core.global_hydra import GlobalHydra
# Running several modules of one package in one process: runpy warns that a module was imported already.
warnings.filterwarnings("ignore", message=".*found in sys.modules", category=RuntimeWarning)
results = []
for module, args in json.loads(sys.argv[1]):
    sys.argv = [module, *args]
    out, err, rc = io.StringIO(), io.StringIO(), 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        except SystemExit as exit:
            rc = exit.code if isinstance(exit.code, int) else 1
        except BaseException as exc:
            rc, err = -1, io.StringIO(f"uncaught {type(exc).__name__}: {exc}")
    GlobalHydra.instance().clear()
    results.append({"rc": rc, "stderr": err.getvalue()})
print("RESULTS " + json.dumps(results))
"""


def run_all(commands, cwd, **env):
    proc = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(commands)], capture_output=True, text=True,
                          cwd=cwd, timeout=600, env={**os.environ, "PYTHONPATH": ROOT, **env})
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULTS ")]
    assert lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(lines[-1][len("RESULTS "):])


@pytest.fixture(scope="module")
def refused(tmp_path_factory):
    """``[(command, expected message, result)]`` for one refusal of each package's commands."""
    tmp = tmp_path_factory.mktemp("refused")
    (tmp / "junk.pt").write_text("not a checkpoint")
    raw = str(tmp / "raw.hdf5")  # robomimic's raw layout: no camera images
    with h5py.File(raw, "w") as f:
        for i in range(3):
            f.create_dataset(f"data/demo_{i}/actions", data=np.zeros((5, 7)))
            f.create_dataset(f"data/demo_{i}/states", data=np.zeros((5, 9)))
    cases = [
        (("alignment.train", ["env=pick", "method=baseline", f"data={raw}", f"run_dir={tmp}/run"]),
         "holds no camera images"),
        (("alignment.evaluate", [f"checkpoint={tmp}/junk.pt"]), "junk.pt"),
        (("alignment.embed", [f"checkpoint={tmp}/junk.pt", f"input={raw}", f"out={tmp}/emb.hdf5"]), "junk.pt"),
        (("alignment.evaluate_policy", [f"run_dir={tmp}/no_run"]), "no_run"),
        (("recognition.train", ["dataset=ntu", f"data_root={tmp}/ntu", f"run_dir={tmp}/r"]), "nothing is downloaded"),
        (("alignment.policy", ["env=lift", f"data={tmp}/none.hdf5", f"run_dir={tmp}/p"]), "none.hdf5"),
        (("recognition.evaluate", [f"checkpoint={tmp}/junk.pt"]), "junk.pt"),
        (("recognition.evaluate", []), "checkpoint is required: give checkpoint=<value>"),
        (("recognition.retrieve", [f"checkpoint={tmp}/junk.pt", *(f"{side}.{key}=x" for side in ("gallery", "query")
                                   for key in ("dataset", "protocol", "data_root"))]), "junk.pt"),
        (("envs.convert", [f"input={raw}", f"out={tmp}/x", "to=foo"]), "to='foo': choose lerobot"),
    ]
    results = run_all([command for command, _ in cases], str(tmp))
    return [(command, message, result) for (command, message), result in zip(cases, results)], tmp


def test_a_refusal_is_one_line_naming_the_problem(refused):
    cases, _ = refused
    for (module, args), message, result in cases:
        lines = result["stderr"].strip().splitlines()
        assert result["rc"] == 1, (module, result)
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], (module, lines)


def test_the_traceback_on_request(refused):
    cases, tmp = refused
    (module, args), message, _ = cases[0]
    result = run_all([(module, args)], str(tmp), POSEAWARE_TRACEBACK="1")[0]
    assert result["rc"] != 0 and "Traceback" in result["stderr"] and message in result["stderr"]
