"""The headline alignment table: env x method x seed at one documented budget, with reference rows.

python benchmarks/alignment_table.py --envs pick minecraft lift --threads 2
python benchmarks/alignment_table.py --envs pick --methods baseline paab --runs runs/alignment_table_fp \
    --out benchmarks/alignment_table_fp.md --marker alignment_table_fp \
    -- "views.train=[cam0,cam1,cam2,cam3,first_person]"     # the first-person view in training

Each env's dataset is generated once with its default rig (training sector cam<i>, held-out sector
held<i>, first-person view) into ``data/bench/<env>.hdf5``. Each run is ``alignment.train`` with the
cpu preset plus the given overrides. The grid resumes: finished runs are skipped and an interrupted run
continues from its last checkpoint, so it may span sessions. After every run the table is rewritten
into ``benchmarks/alignment_table.md`` and between the markers in ``benchmarks/RESULTS.md``, with how
many seeds each row holds. Scores are the test split's, in the centred geometry; the reference rows
(random-init encoder, raw pixels) come from each run's ``metrics.json`` and are averaged over runs.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import signal
import subprocess
import sys
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
from omegaconf import OmegaConf

from envs.dataset_io import EpisodeFile
from poseaware.runs import atomic_write_text  # a unique temp file: two grids may rewrite RESULTS.md at once

ENVS = ["pick", "lift", "minecraft", "can"]
METHODS = ["baseline", "paab", "paat", "paab+paat", "paab_mask", "baseline_bg"]
COLUMNS = [("seen", "seen/alignment_error"), ("unseen 3rd-person", "unseen/alignment_error"),
           ("held0 (near)", "view/held0/alignment_error"), ("held1 (far)", "view/held1/alignment_error"),
           ("first-person", "first_person/alignment_error"), ("unseen Kendall τ", "unseen/kendall_tau"),
           ("unseen, raw geometry", "raw/unseen/alignment_error")]
# Where the first-person view trains (the second protocol), its column is its score as a seen view.
FALLBACK = {"first_person/alignment_error": "view/first_person/alignment_error"}


def score(scores: dict, key: str) -> Optional[float]:
    return scores.get(key, scores.get(FALLBACK.get(key)))


# The tables' recorded results were measured on demos whose cameras drew the scene's numbers (envs.cameras
# RIG_DRAWS): their files keep being made so, that a table resumed or made again is the same table.
TABLE_RIG_DRAWS = "rig.draws=scene"


def generate(env: str, episodes: int, image_size: int, path: str, overrides: Sequence[str] = ()) -> str:
    """``envs.generate`` into ``path``, with the env's default rig unless ``overrides`` change it (it
    resumes, and skips a finished file)."""
    run_child([sys.executable, "-m", "envs.generate", f"env={env}", f"episodes={episodes}",
               f"image_size={image_size}", f"out={path}", "hydra/job_logging=disabled", TABLE_RIG_DRAWS,
               *overrides])
    return path


def dataset(env: str, episodes: int, args) -> str:
    return generate(env, episodes, args.image_size, os.path.join(args.data, f"{env}.hdf5"))


def run_dir(env: str, method: str, seed: int, args) -> str:
    return os.path.join(args.runs, env, method, f"seed{seed}")


def exit_on_sigterm(signum: int, frame) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def stopped_with_the_grid() -> Iterator[None]:
    """While inside, SIGTERM (``kill``, a cluster's time limit) raises ``SystemExit``, so that the children the
    grid started are killed on the way out (``subprocess.run`` does so itself) rather than left working on as
    orphans; their work resumes when the grid is started again."""
    previous = signal.signal(signal.SIGTERM, exit_on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_child(cmd: Sequence[str], **kwargs) -> None:
    """``subprocess.run(cmd, check=True)``, stopped with the grid."""
    with stopped_with_the_grid():
        subprocess.run(list(cmd), check=True, **kwargs)


def run_logged(cmd: Sequence[str], run_path: str, threads: int) -> None:
    """Run ``cmd`` with ``threads`` OpenMP threads, its output appended to ``<run_path>.log`` beside the run
    directory (not inside it, which a run may clear): grids launched side by side keep separate logs."""
    log_path = run_path.rstrip(os.sep) + ".log"
    os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
    with open(log_path, "a") as log:
        log.write(f"[{datetime.datetime.now():%Y-%m-%d %H:%M}] " + " ".join(cmd) + "\n")
        log.flush()
        run_child(cmd, env={**os.environ, "OMP_NUM_THREADS": str(threads)}, stdout=log, stderr=subprocess.STDOUT)


def load_metrics(path: str) -> Optional[dict]:
    metrics = os.path.join(path, "metrics.json")
    if not os.path.exists(metrics):
        return None
    with open(metrics) as f:
        found = json.load(f)
    return found if found.get("test") else None


def lacks_object_masks(method: str, data: str) -> bool:
    """True where ``method`` augments the background but ``data`` predates ``<view>_object_mask``."""
    config = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs", "method", f"{method}.yaml")
    if not float(OmegaConf.load(config).get("augment_background", 0.0)):
        return False
    with EpisodeFile(data) as f:
        return not f.has_view_obs(f.demos[0], f.views[0], "object_mask")


def train(env: str, method: str, seed: int, data: str, args) -> None:
    path = run_dir(env, method, seed, args)
    if load_metrics(path):
        return
    if lacks_object_masks(method, data):  # the rest of the grid goes on
        print(f"skipped {env} {method} seed {seed}: {data} has no object masks; generate it again into a new path "
              f"with the same command, check the frames match, and replace it", flush=True)
        return
    resume = os.path.exists(os.path.join(path, "checkpoints", "last.pt"))
    cmd = [sys.executable, "-m", "alignment.train", f"env={env}", f"method={method}", f"seed={seed}",
           f"data={data}", f"run_dir={path}", "generate_if_missing=false", f"resume={str(resume).lower()}",
           f"overwrite={str(not resume).lower()}", "hydra/job_logging=disabled", *args.overrides]
    print(f"[{datetime.datetime.now():%H:%M}] {env} {method} seed {seed}" + (" (resuming)" if resume else ""), flush=True)
    run_logged(cmd, path, args.threads)


def cell(values: List[float]) -> str:
    if not values:
        return "–"
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}" if len(values) > 1 else f"{values[0]:.3f}"


def commands(args, script: str = __file__) -> List[str]:
    """Every command that has launched runs into ``args.runs``, this one added (``--table-only``
    reruns only rewrite the table): a grid run in parts names all its parts. Kept beside the committed
    run records where the grid has them (``args.record``), so a fresh clone's table still names them."""
    path = os.path.join(getattr(args, "record", None) or args.runs, "command.txt")
    seen = []
    if os.path.exists(path):
        with open(path) as f:
            seen = f.read().splitlines()
    launched = f"python benchmarks/{os.path.basename(script)} {' '.join(sys.argv[1:])}"
    if not getattr(args, "table_only", False) and launched not in seen:
        seen.append(launched)
        atomic_write_text(path, "\n".join(seen) + "\n")
    return seen


def command_lines(args, script: str = __file__) -> List[str]:
    launched = commands(args, script)
    listed = "; ".join(f"`{c}`" for c in launched) or "(not recorded)"
    return [f"Command{'s' if len(launched) > 1 else ''}: {listed}  "]


def found_seeds(folder: str) -> List[int]:
    """The seeds with a run folder under ``folder`` (``seed<N>``)."""
    if not os.path.isdir(folder):
        return []
    return sorted(int(d[4:]) for d in os.listdir(folder) if d.startswith("seed") and d[4:].isdigit())


THREADS = "threads per run as each command sets them (--threads, default 2)"


def table(args) -> str:
    lines = [*command_lines(args),
             f"Machine: {os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}), "
             f"{THREADS}; written {datetime.date.today()}.  ",
             "Test split, alignment error in the centred geometry (chance ≈ 0.33; lower is better), "
             "mean ± std over the seeds listed.", "",
             "| env | method | seeds | " + " | ".join(name for name, _ in COLUMNS) + " | unseen vs baseline (paired seeds) |",
             "| --- | --- | --- | " + " | ".join("---" for _ in COLUMNS) + " | --- |"]
    # The whole grid on disk, whatever part of it this command runs.
    envs = [e for e in ENVS if e in args.envs or os.path.isdir(os.path.join(args.runs, e))]
    methods = METHODS + [m for m in args.methods if m not in METHODS]
    for env in envs:
        runs: Dict[str, Dict[int, dict]] = {
            m: {s: r for s in found_seeds(os.path.join(args.runs, env, m)) if (r := load_metrics(run_dir(env, m, s, args)))}
            for m in methods}
        base = {s: r["test"]["unseen/alignment_error"] for s, r in runs.get("baseline", {}).items()}
        for method in methods:
            found = list(runs[method].values())
            values = {key: [v for r in found if (v := score(r["test"], key)) is not None] for _, key in COLUMNS}
            # against the baseline on the seeds both have, so a partial grid compares like with like
            paired = [s for s in runs[method] if s in base]
            rel = ""
            if method != "baseline" and paired:
                mine = np.mean([runs[method][s]["test"]["unseen/alignment_error"] for s in paired])
                rel = f"{100 * (mine / np.mean([base[s] for s in paired]) - 1):+.0f}% ({len(paired)})"
            lines.append(f"| {env} | {method} | {len(found)} | " + " | ".join(cell(values[k]) for _, k in COLUMNS)
                         + f" | {rel} |")
        references = [r["references"] for rs in runs.values() for r in rs.values() if "references" in r]
        for name in ("random_init", "raw_pixels"):
            values = {key: [v for ref in references if (v := score(ref[name], key)) is not None] for _, key in COLUMNS}
            lines.append(f"| {env} | *reference: {name.replace('_', ' ')}* | {len(references)} | "
                         + " | ".join(cell(values[k]) for _, k in COLUMNS) + " | |")
    return "\n".join(lines)


def seeds_per_row(text: str) -> Dict[Tuple[str, str], int]:
    """``(first cell, second cell) -> seeds`` for a table's rows whose third cell is a seed count (every grid's
    ``| env | row | seeds | ...`` layout; a range ``1–2``, where a row's bins have different numbers of seeds,
    counts its most); other lines are ignored."""
    found = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.lstrip().startswith("|") else []
        count = cells[2].split("–")[-1] if len(cells) >= 3 else ""
        if count.isdigit():
            found[(cells[0], cells[1])] = int(count)
    return found


def lost_rows(old: str, new: str) -> List[str]:
    """The rows of table ``old`` that ``new`` holds with fewer seeds, or not at all."""
    now = seeds_per_row(new)
    return [f"{a} {b} ({n} seeds, {now.get((a, b), 0)} here)" for (a, b), n in seeds_per_row(old).items()
            if now.get((a, b), 0) < n]


def read_text(path: str) -> str:
    if not os.path.exists(path):
        return ""
    with open(path) as f:
        return f.read()


def markers(args) -> Tuple[str, str]:
    """The comments around a grid's table in ``args.results``."""
    return f"<!-- {args.marker}:start -->", f"<!-- {args.marker}:end -->"


def dropped_rows(text: str, args) -> List[str]:
    """The rows of the written table (``args.out``, and between the markers of ``args.results``) that ``text``
    would drop: a table is rebuilt from the runs on this machine, and a fresh clone (or a grid run with another
    ``--runs``) holds fewer than the committed table."""
    START, END = markers(args)
    results = read_text(args.results)
    section = results.split(START, 1)[1].split(END, 1)[0] if START in results and END in results else ""
    return lost_rows(section, text) + lost_rows(read_text(args.out), text)


def write_table(text: str, args) -> None:
    """The table into ``args.out`` and between the markers of ``args.results``, unless that would drop runs
    they hold (``dropped_rows``). Then it goes to ``<runs>/<out's name>`` only."""
    START, END = markers(args)
    results = read_text(args.results)
    lost = dropped_rows(text, args)
    if lost:
        aside = os.path.join(args.runs, os.path.basename(args.out))
        atomic_write_text(aside, text + "\n")
        print(f"kept {args.out} and {args.results} as they are: this table would drop runs they hold "
              f"({'; '.join(dict.fromkeys(lost))}), which are not on this machine. It is written to {aside}; "
              f"restore those runs (or their records) to merge them, or delete the rows by hand if they are "
              f"meant to go", file=sys.stderr, flush=True)
        return
    atomic_write_text(args.out, text + "\n")
    if START in results and END in results:
        head, rest = results.split(START, 1)
        atomic_write_text(args.results, head + START + "\n" + text + "\n" + END + rest.split(END, 1)[1])


def add_grid_arguments(p: argparse.ArgumentParser, name: str) -> None:
    """The arguments every policy grid shares: where data, encoders, runs and the table go."""
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--data", default="data/bench")
    p.add_argument("--encoders", default="runs/alignment_table")
    p.add_argument("--runs", default=f"runs/{name}")
    p.add_argument("--out", default=f"benchmarks/{name}.md")
    p.add_argument("--results", default="benchmarks/RESULTS.md")
    p.add_argument("--marker", default=name)
    p.add_argument("--table-only", action="store_true", help="rewrite the table from finished runs and stop")


def run_grid(args, data, run: Callable, table: Callable[[object], str]) -> None:
    """``run(args, data, row, seed)`` for every seed and row not finished (rows of a seed first, so the
    headline comes first), the table rewritten after each; then written once more and printed. With
    ``--table-only``, only the table."""
    if not args.table_only:
        for seed in args.seeds:
            for row in args.rows:
                run(args, data, row, seed)
                write_table(table(args), args)
    text = table(args)
    write_table(text, args)
    print(text)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--envs", nargs="+", default=["pick", "lift", "minecraft"], choices=ENVS)
    p.add_argument("--methods", nargs="+", default=METHODS)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--episodes", nargs="+", default=["pick=40", "lift=30", "can=30", "minecraft=40"],
                   help="episodes per env's dataset, env=N")
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--data", default="data/bench")
    p.add_argument("--runs", default="runs/alignment_table")
    p.add_argument("--out", default="benchmarks/alignment_table.md")
    p.add_argument("--results", default="benchmarks/RESULTS.md")
    p.add_argument("--marker", default="alignment_table",
                   help="the table replaces what lies between <!-- MARKER:start/end --> in --results")
    p.add_argument("--table-only", action="store_true", help="rewrite the table from finished runs and stop")
    p.add_argument("overrides", nargs="*", help="Hydra overrides for every run, after --")
    args = p.parse_args()
    os.makedirs(args.runs, exist_ok=True)
    if not args.table_only:
        episodes = dict(item.split("=") for item in args.episodes)
        data = {env: dataset(env, int(episodes[env]), args) for env in args.envs}
        for env in args.envs:
            for seed in args.seeds:
                for method in args.methods:
                    train(env, method, seed, data[env], args)
                    write_table(table(args), args)
    text = table(args)
    write_table(text, args)
    print(text)


if __name__ == "__main__":
    main()
