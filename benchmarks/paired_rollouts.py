"""Two rows of the policy or camera table compared episode by episode, with McNemar's exact test.

python benchmarks/paired_rollouts.py benchmarks/camera_table_runs/lift fixed_paat_conv_both fixed_baseline_conv_both

Runs of the same seed are tested on the same episodes (and, in a camera bin, from the same cameras), so the
two rows' outcomes pair up; records that ran other episodes, other cameras (a fixed-camera row's bins lie past
its one camera, a random row's past its sector) or another horizon are refused. Episodes both solve or both
fail say nothing about which row is better; the discordant ones do: under "the rows are equally good" an
episode solved by one row alone is as likely to be either's, so the count of row A's is Binomial(discordant,
1/2). Prints, per bin, each seed's counts and two-sided exact p, and all seeds pooled. Records older than per-episode ``successes`` give an episode's
success as ending before the horizon (a solved Lift episode ends at once), checked against the success rate.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

from scipy.stats import binomtest


@dataclass
class Paired:
    both: int = 0
    only_a: int = 0
    only_b: int = 0
    neither: int = 0

    def add(self, other: "Paired") -> "Paired":
        return Paired(self.both + other.both, self.only_a + other.only_a, self.only_b + other.only_b,
                      self.neither + other.neither)

    @property
    def p_value(self) -> float:
        """McNemar's exact two-sided p: 1 where no episode tells the rows apart."""
        discordant = self.only_a + self.only_b
        return binomtest(self.only_a, discordant, 0.5).pvalue if discordant else 1.0


def episode_successes(view: dict, horizon: int, where: str) -> Dict[int, bool]:
    """Each episode's success by its seed, from one view's (or bin's) saved test rollouts."""
    rescore = "score it again with the current alignment.evaluate_policy"
    if "episode_seeds" not in view:
        raise ValueError(f"{where}: holds no episode seeds, so its episodes cannot be paired; {rescore}")
    if "successes" in view:
        successes = [bool(s) for s in view["successes"]]
    elif horizon is None:
        raise ValueError(f"{where}: holds neither per-episode successes nor the horizon to read them from its "
                         f"steps; {rescore}")
    else:
        successes = [steps < horizon for steps in view["steps"]]
        if abs(sum(successes) / len(successes) - view["success_rate"]) > 1e-9:
            raise ValueError(f"{where}: its steps do not give its success rate, and it holds no per-episode "
                             f"successes; {rescore}")
    return dict(zip(view["episode_seeds"], successes))


def load(runs: str, row: str) -> Dict[int, dict]:
    """The row's finished runs under ``runs`` (``<row>/seed<N>/rollouts.json``), by seed."""
    folder = os.path.join(runs, row)
    found = {}
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        path = os.path.join(folder, name, "rollouts.json")
        if re.fullmatch(r"seed\d+", name) and os.path.exists(path):
            with open(path) as f:
                found[int(name[4:])] = json.load(f)
    if not found:
        raise FileNotFoundError(f"no finished run of {row!r} under {runs} (looked for {folder}/seed<N>/rollouts.json)")
    return found


def cameras_by_episode(view: dict) -> Optional[Dict[int, tuple]]:
    """Where each episode's camera stood (azimuth, elevation, radius, to a micro-degree) by its seed, or None
    for a view of one fixed camera, whose record lists none."""
    if not view.get("cameras"):
        return None
    return {seed: tuple(round(float(c[k]), 6) for k in ("azimuth", "elevation", "radius"))
            for seed, c in zip(view["episode_seeds"], view["cameras"])}


def pair(a: dict, b: dict, view: str, where: str) -> Paired:
    """The two runs' outcomes on the episodes of ``view`` that both ran; they must be the same episodes, seen
    from the same cameras, with the same horizon."""
    if a.get("horizon") != b.get("horizon"):
        raise ValueError(f"{where}: the rows ran episodes of different horizons ({a.get('horizon')} and "
                         f"{b.get('horizon')} steps); compare runs of the same rollout settings")
    if cameras_by_episode(a["rollouts"][view]) != cameras_by_episode(b["rollouts"][view]):
        raise ValueError(f"{where}: the two rows saw the episodes from different cameras (a fixed-camera row's "
                         f"bins lie past its one camera, a camera-randomised row's past its sector); compare rows "
                         f"trained on the same demos")
    ea = episode_successes(a["rollouts"][view], a["horizon"], f"{where} (A)")
    eb = episode_successes(b["rollouts"][view], b["horizon"], f"{where} (B)")
    if set(ea) != set(eb):
        raise ValueError(f"{where}: the two rows were tested on different episodes ({len(set(ea) ^ set(eb))} "
                         f"seeds differ); compare runs of the same seed and rollout settings")
    counts = Paired()
    for seed, success in ea.items():
        other = eb[seed]
        counts = counts.add(Paired(int(success and other), int(success and not other),
                                   int(other and not success), int(not success and not other)))
    return counts


def compare(runs: str, row_a: str, row_b: str, views: Optional[Sequence[str]] = None) -> Dict[str, Dict[str, Paired]]:
    """``{view: {"seed<N>" | "all": Paired}}`` over the seeds and views both rows have."""
    a, b = load(runs, row_a), load(runs, row_b)
    seeds = sorted(set(a) & set(b))
    if not seeds:
        raise ValueError(f"{row_a} (seeds {sorted(a)}) and {row_b} (seeds {sorted(b)}) share no seed")
    shared = [v for v in a[seeds[0]]["rollouts"] if all(v in r["rollouts"] for r in (a[s] for s in seeds))
              and all(v in r["rollouts"] for r in (b[s] for s in seeds))]
    views = list(views) if views else shared
    missing = [v for v in views if v not in shared]
    if missing:
        raise ValueError(f"views {missing} were not tested in every shared seed of both rows; they share {shared}")
    table: Dict[str, Dict[str, Paired]] = {}
    for view in views:
        per_seed = {f"seed{s}": pair(a[s], b[s], view, f"{row_a} vs {row_b}, seed {s}, {view}") for s in seeds}
        total = Paired()
        for counts in per_seed.values():
            total = total.add(counts)
        table[view] = {**per_seed, "all": total}
    return table


def markdown(table: Dict[str, Dict[str, Paired]], row_a: str, row_b: str) -> List[str]:
    lines = [f"A = {row_a}, B = {row_b}", "",
             "| view | seeds | both | A alone | B alone | neither | A | B | McNemar exact p |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for view, by_seed in table.items():
        for seeds, c in by_seed.items():
            n = c.both + c.only_a + c.only_b + c.neither
            lines.append(f"| {view} | {seeds} | {c.both} | {c.only_a} | {c.only_b} | {c.neither} | "
                         f"{100 * (c.both + c.only_a) / n:.0f}% | {100 * (c.both + c.only_b) / n:.0f}% | "
                         f"{c.p_value:.3g} |")
    return lines


def main(argv: Optional[Sequence[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("runs", help="a table's run records of one env, e.g. benchmarks/camera_table_runs/lift")
    p.add_argument("row_a")
    p.add_argument("row_b")
    p.add_argument("--views", nargs="+", help="views or camera bins (default: all that both rows were tested in)")
    args = p.parse_args(argv)
    print("\n".join(markdown(compare(args.runs, args.row_a, args.row_b, args.views), args.row_a, args.row_b)))


if __name__ == "__main__":
    try:
        main()
    except (ValueError, FileNotFoundError) as err:
        sys.exit(f"error: {err}")
