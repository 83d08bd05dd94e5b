"""A policy run's plots: its training curve, and success against the evaluation camera's angular distance from
the training cameras."""
from __future__ import annotations

import os
from typing import Dict, Mapping, Optional, Sequence

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from envs.eval_cameras import EVAL_BINS  # noqa: E402

from poseaware.runs import atomic_write  # noqa: E402


def save_figure(fig, path: str) -> None:
    """Write ``fig`` to ``path`` atomically (its format from the extension, png without one) and close it."""
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format=os.path.splitext(path)[1][1:] or "png", dpi=120,
                                               bbox_inches="tight"))  # a legend beside the axes included
    plt.close(fig)


def bin_distance(name: str) -> float:
    """Degrees a bin's cameras stand past the training cameras (the centre of its band; 0 inside)."""
    b = EVAL_BINS[name]
    return b.azimuth_past if b.azimuth_past is not None else abs(b.elevation_past)


def above(name: str) -> bool:
    """Whether an elevation bin's cameras stand above the training cameras' elevations (else below)."""
    return EVAL_BINS[name].elevation_past > 0


def elevation_marker(name: str) -> str:
    return "^" if above(name) else "v"


def dodge(index: int, count: int, width: float = 6.0) -> float:
    """Degrees row ``index`` of ``count`` is drawn beside its bins' distances, so that rows' error bars at one
    distance stand side by side within ``width`` degrees rather than over each other."""
    return (index - (count - 1) / 2) * min(1.0, width / max(count, 1))


LINE_STYLES = ("-", "--", ":", "-.")


def row_style(index: int) -> Dict[str, str]:
    """A row's colour and line style: ten colours, then the same colours dashed, dotted…, so that no two of up to
    40 rows look alike."""
    return {"color": f"C{index % 10}", "linestyle": LINE_STYLES[index // 10 % len(LINE_STYLES)]}


def plot_success_by_angle(rows: Mapping[str, Mapping[str, float]], path: str, title: str = "",
                          spread: Optional[Mapping[str, Mapping[str, float]]] = None,
                          panels: Optional[Mapping[str, Sequence[str]]] = None) -> None:
    """``rows``: ``{row: {bin: success rate}}`` -> one line per row over the azimuth bins (``train``,
    ``beyond15`` …), the elevation bins as separate markers at their distance, each row shifted by ``dodge``;
    ``spread``: the same layout's error bars (the std over seeds, as a rate), where a row has several;
    ``panels``: ``{panel title: rows}``, side by side sharing the axes (a row may stand in several, a reference
    say, in the same style in each); one panel of every row without. Written atomically."""
    panels = panels or {"": list(rows)}
    unknown = sorted({r for names in panels.values() for r in names} - set(rows))
    if unknown:
        raise ValueError(f"panels name rows with no rates: {', '.join(unknown)}")
    styles = {row: row_style(i) for i, row in enumerate(rows)}
    entries = max(len(names) for names in panels.values()) + 2  # the legend under each panel: room for it
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels) + 1, 3.6 + 0.17 * entries), sharey=True,
                             squeeze=False)
    for ax, (panel, names) in zip(axes[0], panels.items()):
        elevations = set()
        for index, row in enumerate(names):
            rates, bars, style = rows[row], (spread or {}).get(row, {}), styles[row]
            shift = dodge(index, len(names))
            azimuth = sorted((bin_distance(b), 100 * r, 100 * bars.get(b, 0.0)) for b, r in rates.items()
                             if b in EVAL_BINS and EVAL_BINS[b].elevation_past == 0)
            x, y, err = np.array(azimuth, dtype=float).reshape(-1, 3).T
            ax.errorbar(x + shift, y, yerr=err if bars else None, fmt="o", label=row, capsize=3, **style)
            for b, r in rates.items():
                if b in EVAL_BINS and EVAL_BINS[b].elevation_past:
                    ax.errorbar(bin_distance(b) + shift, 100 * r, yerr=100 * bars[b] if b in bars else None,
                                fmt=elevation_marker(b), color=style["color"], fillstyle="none", markersize=9,
                                capsize=3)
                    elevations.add(b)
        for b in sorted(elevations):  # one key entry per elevation bin, in the rows' own colours on the plot
            ax.errorbar([], [], fmt=elevation_marker(b), color="black", fillstyle="none", markersize=9,
                        label=f"{b}: {bin_distance(b):g}° {'above' if above(b) else 'below'}")
        ax.set_xlabel("evaluation camera: degrees past the training cameras")
        ax.set_ylim(-3, 103)
        ax.set_xticks([0, 15, 30, 45, 60])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18))  # under the lines, never over
        if panel:
            ax.set_title(panel, fontsize=9)
    axes[0][0].set_ylabel("success (%)")
    if title:
        fig.suptitle(title, fontsize=10)
    save_figure(fig, path)


def angle_rates(results: Dict[str, dict]) -> Dict[str, float]:
    """The success rate of each evaluation bin among a run's ``rollouts.json`` results."""
    return {view: r["success_rate"] for view, r in results.items() if view in EVAL_BINS}


def plot_training_curve(history: Sequence[Mapping[str, float]], validation: Sequence[Mapping[str, float]],
                        path: str, title: str = "") -> None:
    """robomimic's per-epoch losses (``history``: ``{"epoch", "Loss", ...}``) on a log scale, and the validation
    rollouts' success (``{"epoch", "success_rate"}``) on a second axis; written atomically."""
    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = [h["epoch"] for h in history]
    for index, name in enumerate(sorted({k for h in history for k in h if k.endswith("Loss")})):
        ax.plot(epochs, [h.get(name, float("nan")) for h in history], color=f"C{index}", label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    if validation:
        success = ax.twinx()
        success.plot([v["epoch"] for v in validation], [100 * v["success_rate"] for v in validation], "ko-",
                     label="validation success")
        success.set_ylabel("validation success (%)")
        success.set_ylim(-3, 103)
        success.legend(loc="upper right", fontsize=7)
    ax.legend(loc="upper left", fontsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    save_figure(fig, path)
