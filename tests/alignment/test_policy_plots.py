"""The success-by-angle plot draws what it is given: each row's rates at their bins' distances, and the seed
spread as error bars only where it is given."""
import numpy as np
import pytest

from alignment import policy_plots


def drawn_figure(monkeypatch, rows, spread=None, panels=None):
    saved = []
    monkeypatch.setattr(policy_plots, "save_figure", lambda fig, path: saved.append(fig))
    policy_plots.plot_success_by_angle(rows, "unused.png", spread=spread, panels=panels)
    return saved[0].axes[0] if panels is None else saved[0].axes


def bars(container) -> list:
    """(x, half-length) of each vertical error bar of an ``errorbar`` call, or [] where it drew none."""
    _, _, lines = container.lines
    if not lines:
        return []
    return [(float(seg[0][0]), float(abs(seg[1][1] - seg[0][1]) / 2)) for seg in lines[0].get_segments()]


def test_success_by_angle_plots_each_row_at_its_bins_distances_with_the_seed_spread_as_error_bars(monkeypatch):
    rows = {"three seeds": {"train": 0.9, "beyond30": 0.6, "beyond60": 0.5, "elev+15": 0.8},
            "one seed": {"train": 1.0, "beyond30": 0.2}}
    spread = {"three seeds": {"train": 0.05, "beyond30": 0.1, "beyond60": 0.2, "elev+15": 0.04}}
    ax = drawn_figure(monkeypatch, rows, spread)
    line = {c.get_label(): c for c in ax.containers if c.get_label() in rows}
    shift = policy_plots.dodge(0, 2)  # the first of two rows a little left of its distances, the second right
    assert -1 <= shift < 0 and policy_plots.dodge(1, 2) == -shift
    np.testing.assert_allclose(line["three seeds"].lines[0].get_xdata(), np.array([0, 30, 60]) + shift)
    np.testing.assert_allclose(line["three seeds"].lines[0].get_ydata(), [90, 60, 50])
    np.testing.assert_allclose(bars(line["three seeds"]), [(0 + shift, 5), (30 + shift, 10), (60 + shift, 20)])
    assert bars(line["one seed"]) == []  # a row with one seed has no spread to draw
    elevation = [c for c in ax.containers if bars(c) and c.get_label() not in rows]
    assert len(elevation) == 1 and np.allclose(bars(elevation[0]), [(15 + shift, 4)])  # its marker, its own bar
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[:2] == ["three seeds", "one seed"] and labels[2].startswith("elev+15")


def test_rows_are_dodged_within_a_few_degrees_however_many_there_are():
    for count in (1, 2, 8, 20):
        shifts = [policy_plots.dodge(i, count) for i in range(count)]
        assert np.allclose(np.sum(shifts), 0) and max(shifts) - min(shifts) <= 6 and len(set(shifts)) == count


def test_success_by_angle_without_a_spread_draws_no_error_bars(monkeypatch):
    ax = drawn_figure(monkeypatch, {"row": {"train": 0.5, "beyond15": 0.25}})
    assert all(bars(c) == [] for c in ax.containers)


def test_panels_show_their_rows_each_row_in_one_style_wherever_it_stands(monkeypatch):
    rows = {f"row{i}": {"train": 0.5, "beyond30": i / 20} for i in range(12)}
    panels = {"fixed": ["row0", "row11"], "random": [f"row{i}" for i in range(1, 12)]}
    fixed, random = drawn_figure(monkeypatch, rows, panels=panels)
    assert [ax.get_title() for ax in (fixed, random)] == ["fixed", "random"]

    def styles(ax):
        return {c.get_label(): (c.lines[0].get_color(), c.lines[0].get_linestyle()) for c in ax.containers
                if c.get_label() in rows}
    assert list(styles(fixed)) == panels["fixed"] and list(styles(random)) == panels["random"]
    assert styles(fixed)["row11"] == styles(random)["row11"]  # the same row looks the same in both panels
    everywhere = {**styles(fixed), **styles(random)}
    assert len(set(everywhere.values())) == 12  # the 11th row on is dashed: no two rows look alike
    assert everywhere["row0"][0] == everywhere["row10"][0] and everywhere["row10"][1] == "--"
    with pytest.raises(ValueError, match="panels name rows with no rates: row99"):
        drawn_figure(monkeypatch, rows, panels={"fixed": ["row99"]})
