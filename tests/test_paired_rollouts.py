"""benchmarks/paired_rollouts.py on records whose answers are known."""
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))
import paired_rollouts  # noqa: E402

HORIZON = 400


def record(root, row: str, seed: int, outcomes: dict, per_episode: bool = True, azimuths=None,
           horizon=HORIZON) -> None:
    """A run record whose views hold the given outcomes (a list of bools per view) on episode seeds 100, 101, ...,
    each episode's camera at ``azimuths[i]`` where given (a camera bin's record)."""
    views = {}
    for view, wins in outcomes.items():
        views[view] = {"success_rate": sum(wins) / len(wins), "episodes": len(wins),
                       "steps": [120 if w else HORIZON for w in wins], "episode_seeds": list(range(100, 100 + len(wins)))}
        if per_episode:
            views[view]["successes"] = list(wins)
        if azimuths is not None:
            views[view]["cameras"] = [{"bin": view, "azimuth": az, "elevation": 30.0, "radius": 1.0} for az in azimuths]
    path = root / row / f"seed{seed}" / "rollouts.json"
    os.makedirs(path.parent, exist_ok=True)
    path.write_text(json.dumps({"rollouts": views, "horizon": horizon}))


def test_discordant_episodes_decide_and_seeds_pool(tmp_path):
    # seed 0: A solves 10 episodes B fails, none the other way; 5 both solve, 5 neither
    record(tmp_path, "a", 0, {"cam0": [True] * 15 + [False] * 5})
    record(tmp_path, "b", 0, {"cam0": [False] * 10 + [True] * 5 + [False] * 5})
    # seed 1: one each way
    record(tmp_path, "a", 1, {"cam0": [True, False, True]}, per_episode=False)
    record(tmp_path, "b", 1, {"cam0": [False, True, True]}, per_episode=False)
    table = paired_rollouts.compare(str(tmp_path), "a", "b")["cam0"]
    assert table["seed0"] == paired_rollouts.Paired(both=5, only_a=10, only_b=0, neither=5)
    assert table["seed0"].p_value == pytest.approx(2 * 0.5 ** 10)
    assert table["seed1"] == paired_rollouts.Paired(both=1, only_a=1, only_b=1, neither=0)
    assert table["seed1"].p_value == 1.0
    assert table["all"] == paired_rollouts.Paired(both=6, only_a=11, only_b=1, neither=5)
    assert table["all"].p_value == pytest.approx(2 * (1 + 12) * 0.5 ** 12)  # P(X <= 1) of Binomial(12, 1/2), doubled


def test_a_row_against_itself_is_at_chance(tmp_path):
    record(tmp_path, "a", 0, {"beyond30": [True, False] * 25})
    (tmp_path / "b").symlink_to(tmp_path / "a")
    counts = paired_rollouts.compare(str(tmp_path), "a", "b")["beyond30"]["all"]
    assert counts.only_a == counts.only_b == 0 and counts.p_value == 1.0


def test_records_of_other_episodes_or_no_shared_seed_are_refused(tmp_path):
    record(tmp_path, "a", 0, {"cam0": [True, True]})
    record(tmp_path, "b", 0, {"cam0": [True, True, True]})
    with pytest.raises(ValueError, match="different episodes"):
        paired_rollouts.compare(str(tmp_path), "a", "b")
    record(tmp_path, "c", 1, {"cam0": [True, True]})
    with pytest.raises(ValueError, match="share no seed"):
        paired_rollouts.compare(str(tmp_path), "a", "c")
    with pytest.raises(ValueError, match="not tested"):
        paired_rollouts.compare(str(tmp_path), "a", "b", ["beyond60"])
    with pytest.raises(FileNotFoundError, match="no finished run of 'd'"):
        paired_rollouts.compare(str(tmp_path), "a", "d")


def test_steps_that_contradict_the_success_rate_are_refused(tmp_path):
    record(tmp_path, "a", 0, {"cam0": [True, False]}, per_episode=False)
    path = tmp_path / "a" / "seed0" / "rollouts.json"
    saved = json.loads(path.read_text())
    saved["rollouts"]["cam0"]["steps"] = [HORIZON, HORIZON]  # says neither succeeded, against a 50% rate
    path.write_text(json.dumps(saved))
    record(tmp_path, "b", 0, {"cam0": [True, False]})
    with pytest.raises(ValueError, match="do not give its success rate"):
        paired_rollouts.compare(str(tmp_path), "a", "b")


def test_records_from_other_cameras_or_horizons_are_refused(tmp_path):
    # the same episodes and bin, but one row's cameras stood past a fixed camera, the other's past a sector
    record(tmp_path, "fixed", 0, {"beyond30": [True, False]}, azimuths=[-61.6, 80.0])
    record(tmp_path, "random", 0, {"beyond30": [True, True]}, azimuths=[-114.1, 80.0])
    with pytest.raises(ValueError, match="different cameras"):
        paired_rollouts.compare(str(tmp_path), "fixed", "random")
    record(tmp_path, "same", 0, {"beyond30": [False, True]}, azimuths=[-61.6, 80.0 + 1e-9])  # JSON round-off
    assert paired_rollouts.compare(str(tmp_path), "fixed", "same")["beyond30"]["all"].only_a == 1
    record(tmp_path, "unlisted", 0, {"beyond30": [False, True]})  # a record without its cameras
    with pytest.raises(ValueError, match="different cameras"):
        paired_rollouts.compare(str(tmp_path), "fixed", "unlisted")
    record(tmp_path, "short", 0, {"beyond30": [True, False]}, azimuths=[-61.6, 80.0], horizon=200)
    with pytest.raises(ValueError, match="different horizons"):
        paired_rollouts.compare(str(tmp_path), "fixed", "short")


def test_old_records_that_cannot_be_paired_say_to_score_them_again(tmp_path):
    record(tmp_path, "a", 0, {"cam0": [True, False]}, per_episode=False, horizon=None)
    record(tmp_path, "b", 0, {"cam0": [True, False]}, per_episode=False, horizon=None)
    with pytest.raises(ValueError, match="nor the horizon.*score it again"):
        paired_rollouts.compare(str(tmp_path), "a", "b")
    record(tmp_path, "c", 0, {"cam0": [True, False]})
    path = tmp_path / "c" / "seed0" / "rollouts.json"
    saved = json.loads(path.read_text())
    del saved["rollouts"]["cam0"]["episode_seeds"]
    path.write_text(json.dumps(saved))
    record(tmp_path, "d", 0, {"cam0": [True, False]})
    with pytest.raises(ValueError, match="no episode seeds.*score it again"):
        paired_rollouts.compare(str(tmp_path), "c", "d")
