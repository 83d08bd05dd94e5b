"""Every command the README shows, and every Hydra entry point, starts through ``python -m``.

The commands are read from README.md itself (code blocks and inline code), so a new documented command
is checked without editing this file. Each starts with Hydra's ``--cfg job --resolve``: the config files
are parsed, the overrides checked against them, the interpolations resolved and the module imported,
but no job runs. Every command starts in one subprocess, as ``python -m`` starts it
(``runpy.run_module(..., alter_sys=True)``), so torch is imported once, not once per command.
"""
import json
import os
import re
import shlex
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("envs", "alignment", "recognition")
NOT_OURS = {"pytest", "pip", "venv", "torch.distributed.run"}


def readme_commands(text: str):
    """``(module, args)`` of every ``python -m``/``torchrun ... -m`` command in the README."""
    blocks = re.findall(r"```bash\n(.*?)```", text, re.S)
    lines = [line for block in blocks for line in block.replace("\\\n", " ").splitlines()]
    lines += [" ".join(span.split()) for span in re.findall(r"(?<!`)`((?:python|torchrun) [^`]+)`", text)]
    commands = []
    for line in lines:
        for part in line.split("&&"):
            match = re.search(r"(?:python3?|torchrun)\b.*?-m (\S+)(.*)", part.split(" # ")[0])
            if match and match.group(1) not in NOT_OURS:
                command = (match.group(1), tuple(shlex.split(match.group(2))))
                if command not in commands:
                    commands.append(command)
    return commands


def entry_points():
    """Every module of the packages with a ``@hydra.main`` entry point."""
    found = []
    for package in PACKAGES:
        for name in sorted(os.listdir(os.path.join(ROOT, package))):
            if name.endswith(".py") and "@hydra.main" in open(os.path.join(ROOT, package, name)).read():
                found.append(f"{package}.{name[:-3]}")
    return found


README = open(os.path.join(ROOT, "README.md")).read()
COMMANDS = readme_commands(README)
COMMANDS += [(module, ()) for module in entry_points() if module not in {m for m, _ in COMMANDS}]

# Runs each command as `python -m` would, in this one process, and reports its exit status and output.
DRIVER = r"""
import contextlib, io, json, runpy, sys, traceback
from hydra.core.global_hydra import GlobalHydra
results = []
for module, args in json.loads(sys.argv[1]):
    sys.argv = [module, *args, "--cfg", "job", "--resolve"]
    out, rc = io.StringIO(), 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        except SystemExit as exit:
            rc = exit.code if isinstance(exit.code, int) else 1
        except BaseException:
            traceback.print_exc()
            rc = 1
    GlobalHydra.instance().clear()
    results.append({"rc": rc, "output": out.getvalue()[-3000:]})
print("RESULTS " + json.dumps(results))
"""


@pytest.fixture(scope="module")
def started(tmp_path_factory):
    """``{(module, args): {"rc", "output"}}`` for every command, started in an empty folder."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(COMMANDS)], capture_output=True, text=True,
                          cwd=tmp_path_factory.mktemp("cwd"), env=env, timeout=600)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULTS ")]
    assert lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    return dict(zip(COMMANDS, json.loads(lines[-1][len("RESULTS "):])))


def test_the_readme_shows_every_package_command():
    modules = {m for m, _ in readme_commands(README)}
    assert {"envs.generate", "alignment.train", "alignment.embed", "recognition.retrieve"} <= modules
    assert ("recognition.retrieve", ("checkpoint=runs/recognition/ntu/CS/paab/seed0/checkpoints/best.pt",
            "gallery.dataset=nucla", "gallery.protocol=CV3", "gallery.split=train", "gallery.data_root=/data/nucla",
            "query.dataset=nucla", "query.protocol=CV3", "query.split=test",
            "query.data_root=/data/nucla")) in readme_commands(README)


@pytest.mark.parametrize("module, args", COMMANDS, ids=[" ".join([m, *a])[:80] for m, a in COMMANDS])
def test_command_starts(started, module, args):
    result = started[(module, args)]
    assert result["rc"] == 0, f"python -m {module} {' '.join(args)} failed:\n{result['output']}"


def test_a_broken_config_fails_the_check(tmp_path):
    """The check itself: a command whose config YAML cannot parse is reported as failing."""
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "broken.yaml").write_text("gallery: {dataset: ???}\n")
    (tmp_path / "broken_cli.py").write_text(
        "import hydra\n@hydra.main(config_path='configs', config_name='broken', version_base='1.3')\n"
        "def main(cfg):\n    pass\nif __name__ == '__main__':\n    main()\n")
    proc = subprocess.run([sys.executable, "-c", DRIVER, json.dumps([["broken_cli", []]])], capture_output=True,
                          text=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(tmp_path)}, timeout=120)
    result = json.loads(proc.stdout.split("RESULTS ")[-1])[0]
    assert result["rc"] != 0 and "expected the node content, but found '?'" in result["output"]
