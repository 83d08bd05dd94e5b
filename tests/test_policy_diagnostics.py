"""benchmarks/offline_camera_error.py and camera_input_sensitivity.py on tiny camera-randomised runs whose answers
are known: the demos' file given as the "other" cameras gives back the run's own training copies, so the same
errors; a policy without a pose input cannot move when only the pose is swapped."""
import os
import sys

import h5py
import numpy as np
import pytest
from hydra import compose, initialize_config_module

from alignment.policy import run_policy
from alignment.policy_data import copies_by_demo
from envs.generate import generate_dataset

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))
import camera_input_sensitivity  # noqa: E402
import offline_camera_error  # noqa: E402


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("diagnostics")
    data = str(folder / "pick.hdf5")
    generate_dataset("pick", data, episodes=3, image_size=32, num_views=2, progress=False)
    made = {}
    for name, extra in (("posed", ["camera_input=arm"]), ("plain", [])):
        with initialize_config_module("configs", version_base="1.3"):
            cfg = compose("policy", overrides=["env=pick", f"data={data}", f"run_dir={folder / name}", "obs=image",
                                               "backbone=resnet18", "bc.epochs=1", "bc.steps_per_epoch=2",
                                               "bc.batch_size=4", "bc.filter_key=null", "rollouts=1", "videos=0",
                                               "horizon=2", "eval_views=[cam0]", "train_views=[cam0,cam1]", *extra])
        run_policy(cfg)
        made[name] = str(folder / name)
    return data, made


def test_the_runs_own_demos_as_the_other_cameras_give_its_training_errors_back(runs, tmp_path):
    data, made = runs
    found = offline_camera_error.errors_of_run(made["posed"], data, ["cam0", "cam1"], 3, str(tmp_path))
    with h5py.File(data) as f:
        steps = sum(int(f[f"data/demo_{i}"].attrs["num_samples"]) for i in range(3))
    # the copies made again (the camera solved from the arm again) are the run's own: the very same errors
    assert sorted(found["training"]) == sorted(found["other"]) == ["cam0", "cam1"]
    for camera in ("cam0", "cam1"):
        np.testing.assert_allclose(found["other"][camera], found["training"][camera], atol=1e-6)
        assert len(found["other"][camera]) == steps  # every step of the 3 demos, once from each camera
    assert not np.allclose(found["other"]["cam0"], found["other"]["cam1"])  # two cameras, two poses: other actions
    fewer = str(tmp_path / "fewer.hdf5")
    generate_dataset("pick", fewer, episodes=2, image_size=32, num_views=2, progress=False)
    with pytest.raises(ValueError, match="does not hold the run's demos demo_0…demo_2"):
        offline_camera_error.errors_of_run(made["posed"], fewer, ["cam0"], 3, str(tmp_path))


def test_a_policy_files_copies_are_found_by_demo_and_camera(runs):
    data, made = runs
    with h5py.File(os.path.join(made["plain"], "policy_data.hdf5")) as f:
        assert copies_by_demo(f["data"]) == {f"demo_{i}": {"cam0": f"demo_{2 * i}", "cam1": f"demo_{2 * i + 1}"}
                                             for i in range(3)}
    with h5py.File(data) as f:  # demos never copied stand alone
        assert copies_by_demo(f["data"]) == {f"demo_{i}": {"": f"demo_{i}"} for i in range(3)}


def test_only_a_policy_with_a_pose_input_moves_when_only_its_pose_is_swapped(runs):
    _, made = runs
    posed = camera_input_sensitivity.sensitivity(made["posed"], 16, 0)
    plain = camera_input_sensitivity.sensitivity(made["plain"], 16, 0)
    assert plain["pose input"] == "none" and plain["pose input swapped"] == 0.0
    assert posed["pose input"] == "cam0_camera_pose" and posed["pose input swapped"] > 0
    # (the tiny ResNet's feature map is one cell: its spatial softmax reads nothing of the image, so the pose is
    # what tells these cameras apart)
    assert posed["camera swapped"] == pytest.approx(posed["pose input swapped"])
