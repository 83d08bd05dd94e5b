"""alignment.train on LeRobot v3.0 datasets brought in with envs.convert: the baseline trains on any
dataset's cameras; PAAB and PAAT train where annotation.<view>.keypoints came along and, where they did not, is
refused with what is missing and how to add it."""
import json
import os
import shutil

import pytest
from hydra import compose, initialize_config_module

from alignment.task import train
from envs import lerobot_layout as layout
from envs.lerobot_export import export_lerobot
from envs.lerobot_import import import_lerobot
from tests.envs.synthetic_demos import write_synthetic_demos

TINY = ["model.depth=1", "model.patch_size=8", "model.proj_dim=16", "train.epochs=1", "train.steps_per_epoch=2",
        "train.batch_frames=8"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lerobot")
    source = write_synthetic_demos(str(folder / "demos.hdf5"))
    return export_lerobot(source, str(folder / "demos_lerobot"), progress=False)["out"]


def config(data, run_dir, *overrides):
    with initialize_config_module("configs", version_base="1.3"):
        return compose("train", overrides=["env=pick", f"data={data}", f"run_dir={run_dir}", *TINY, *overrides])


@pytest.mark.parametrize("method", ["paab", "paat"])
def test_pose_aware_methods_train_on_an_import_with_keypoints(exported, tmp_path, method):
    data = str(tmp_path / "mine.hdf5")
    import_lerobot(exported, data, progress=False)
    result = train(config(data, str(tmp_path / method), f"method={method}"))
    assert "unseen/alignment_error" in result


def test_without_keypoints_baseline_trains_and_paab_names_the_fix(exported, tmp_path):
    foreign = str(tmp_path / "foreign")  # as lerobot records a dataset: cameras, state, action only
    shutil.copytree(exported, foreign)
    os.remove(os.path.join(foreign, layout.SIDECAR_PATH))
    info = json.load(open(os.path.join(foreign, layout.INFO_PATH)))
    info["features"] = {k: v for k, v in info["features"].items() if not k.startswith("annotation.")}
    json.dump(info, open(os.path.join(foreign, layout.INFO_PATH), "w"))
    data = str(tmp_path / "mine.hdf5")
    import_lerobot(foreign, data, progress=False)
    for method in ("paab", "paat"):
        with pytest.raises(ValueError, match=r"no keypoints for views \['cam0', 'cam1'\].*"
                                             r"annotation\.<view>\.keypoints.*method=baseline"):
            train(config(data, str(tmp_path / method), f"method={method}"))
        assert not os.path.exists(tmp_path / method / "checkpoints")
    result = train(config(data, str(tmp_path / "baseline"), "method=baseline"))
    assert "unseen/alignment_error" in result
