"""Every loader on synthetic files in the real formats; protocol splits; flip swap; bad input."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from envs.skeletons import LCRNET13, NTU25, OPENPOSE18, flip_keypoints
from recognition.clips import ClipDataset
from recognition.datasets import load_split, ntu, smarthome

from . import synthetic


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    base = tmp_path_factory.mktemp("datasets")
    sh, nt, nu = str(base / "smarthome"), str(base / "ntu"), str(base / "nucla")
    os.makedirs(sh)
    synthetic.write_smarthome(sh, "Walk", 3, 1, seed=0)  # CS train, CV train camera
    synthetic.write_smarthome(sh, "Cook.Cut", 2, 2, seed=1)  # CS test, CV test camera (CS-only class)
    synthetic.write_smarthome(sh, "Readbook", 10, 5, seed=2)  # CS test, CV validation camera
    synthetic.write_ntu(nt, 1, 2, 1, 2, 1, seed=3)  # CS train, C002 R002 = 0 degrees
    synthetic.write_ntu(nt, 1, 1, 3, 1, 60, seed=4)  # CS test, C001 = 45 degrees
    synthetic.write_ntu(nt, 1, 3, 3, 2, 7, seed=5)  # CS test, C003 R002 = 90 degrees
    synthetic.write_nucla(nu, 1, 1, 1, 1, seed=6)
    synthetic.write_nucla(nu, 3, 12, 2, 1, seed=7)
    return {"smarthome": sh, "ntu": nt, "nucla": nu}


def test_smarthome_protocol_splits(roots):
    names = lambda split: [os.path.basename(r.video) for r in split.records]
    assert names(load_split("smarthome", roots["smarthome"], "CS", "train", "test_side")) == ["Walk_p03_r01_v01_c01.mp4"]
    assert len(load_split("smarthome", roots["smarthome"], "CS", "test").records) == 2
    cv_test = load_split("smarthome", roots["smarthome"], "CV1", "test")
    assert cv_test.records == []  # Cook.Cut is not among the 19 cross-view classes
    cv_valid = load_split("smarthome", roots["smarthome"], "CV2", "valid", "test_side")  # the dataset's own
    assert names(cv_valid) == ["Readbook_p10_r01_v01_c05.mp4"]
    assert cv_valid.records[0].label == smarthome.CV_CLASSES.index("Readbook")
    assert len(smarthome.CS_CLASSES) == 31 and len(smarthome.CV_CLASSES) == 19


def test_ntu_protocols_and_view_angles(roots):
    assert ntu.view_angle(1, 1) == 45 and ntu.view_angle(2, 2) == 0 and ntu.view_angle(3, 1) == 0
    assert ntu.view_angle(2, 1) == 90 and ntu.view_angle(3, 2) == 90
    label = lambda p, s: [r.label for r in load_split("ntu", roots["ntu"], p, s, "test_side").records]
    assert label("CS", "train") == [0]
    assert sorted(label("CS", "test")) == [6, 59]
    assert label("CVS1", "train") == [0] and label("CVS2", "test") == [59] and label("CVS3", "test") == [6]
    assert sorted(label("CV", "train")) == [0, 6]


def test_nucla_cross_view(roots):
    train = load_split("nucla", roots["nucla"], "CV3", "train", "test_side")
    test = load_split("nucla", roots["nucla"], "CV3", "test")
    assert [r.label for r in train.records] == [0] and [r.label for r in test.records] == [9]


@pytest.mark.parametrize("dataset, protocol, skeleton", [
    ("smarthome", "CS", LCRNET13), ("ntu", "CS", NTU25), ("nucla", "CV3", OPENPOSE18)])
def test_clips_load_end_to_end_with_keypoints_on_the_moving_square(roots, dataset, protocol, skeleton):
    split = load_split(dataset, roots[dataset], protocol, "test")
    item = ClipDataset(split, num_frames=4, img_size=32, train=False)[0]
    assert item["video"].shape == (4, 3, 32, 32) and item["keypoints"].shape == (4, len(skeleton.joints), 2)
    # The square is red: the red channel at the mean visible keypoint is high.
    kp = item["keypoints"][0]
    x, y = kp[torch.isfinite(kp).all(1)].mean(0).long().tolist()
    assert item["video"][0, 0, y, x] > item["video"][0, 0].mean() + 1.0


def test_flip_mirrors_x_and_swaps_left_and_right():
    kp = np.zeros((13, 2), np.float32)
    kp[:, 0] = np.arange(13)
    kp[LCRNET13.joints.index("left_wrist")] = [10.0, 3.0]
    flipped = flip_keypoints(kp, 64, LCRNET13)
    assert flipped[LCRNET13.joints.index("right_wrist")].tolist() == [54.0, 3.0]
    assert flipped[LCRNET13.joints.index("head")].tolist() == [64.0 - 12, 0.0]
    np.testing.assert_array_equal(flip_keypoints(flipped, 64, LCRNET13), kp)
    for sk in (NTU25, OPENPOSE18):
        order = sk.flip_order
        assert sorted(order) == list(range(len(sk.joints)))
        assert all(sk.joints[order[i]].replace("left", "X").replace("right", "left").replace("X", "right")
                   == sk.joints[i] for i in range(len(sk.joints)))


def test_training_flip_keeps_keypoints_on_the_square(roots):
    split = load_split("smarthome", roots["smarthome"], "CS", "test")
    ds = ClipDataset(split, num_frames=4, img_size=32, train=True, flip_prob=1.0)
    item = ds[0]
    t = next(i for i in range(4) if torch.isfinite(item["keypoints"][i]).all())  # one frame has no skeleton
    x, y = item["keypoints"][t].mean(0).long().tolist()
    assert item["video"][t, 0, y, x] > item["video"][t, 0].mean() + 1.0


def test_bad_inputs(roots, tmp_path):
    root = str(tmp_path / "sh")
    stem = synthetic.write_smarthome(root, "Walk", 3, 1, seed=0)
    os.remove(os.path.join(root, f"{stem}_pose3d.json"))
    with pytest.raises(FileNotFoundError, match="skeleton file not found"):
        ClipDataset(load_split("smarthome", root, "CS", "train", "test_side"), 4, 32)[0]
    bad = str(tmp_path / "bad")
    stem = synthetic.write_smarthome(bad, "Walk", 3, 1, seed=0)
    with open(os.path.join(bad, f"{stem}.mp4"), "wb") as f:
        f.write(b"not a video at all")
    with pytest.raises(ValueError, match="cannot decode video"):
        ClipDataset(load_split("smarthome", bad, "CS", "train", "test_side"), 4, 32)[0]
    unknown = str(tmp_path / "unknown")
    synthetic.write_smarthome(unknown, "Juggle", 3, 1, seed=0)
    with pytest.raises(ValueError, match="unknown activity 'Juggle'"):
        load_split("smarthome", unknown, "CS", "train", "test_side")
    with pytest.raises(ValueError, match="one training subject.*validation=test_side"):
        load_split("smarthome", roots["smarthome"], "CS", "valid")
    with pytest.raises(ValueError, match="unknown validation 'test'"):
        load_split("smarthome", roots["smarthome"], "CS", "valid", "test")
    with pytest.raises(ValueError, match="unknown Smarthome protocol 'CX'"):
        load_split("smarthome", roots["smarthome"], "CX", "train", "test_side")
    with pytest.raises(ValueError, match="unknown dataset"):
        load_split("kinetics", roots["smarthome"], "CS", "train", "test_side")


def test_frame_sampling_segment_and_dense():
    from recognition.clips import sample_indices

    rng = np.random.default_rng(0)
    seg = sample_indices(80, 8, train=False, rng=rng)
    assert seg.tolist() == [5, 15, 25, 35, 45, 55, 65, 75]
    dense = sample_indices(300, 8, train=True, rng=rng, sampling_rate=32)
    assert np.all(np.diff(dense) == 32) and dense[-1] < 300
    clips = [sample_indices(300, 8, train=False, rng=rng, clip=c, num_clips=3, sampling_rate=32)[0] for c in range(3)]
    assert clips[0] < clips[1] < clips[2]
    assert sample_indices(20, 8, train=True, rng=rng, sampling_rate=32).max() == 19  # short video: last frame repeats


def test_read_video_decodes_only_the_wanted_frames(tmp_path):
    from recognition.datasets.video import read_video, video_length

    path = str(tmp_path / "v.mp4")
    frames, _ = synthetic.frames_and_track(0)
    synthetic.write_video(path, frames)
    full = read_video(path)
    assert full.shape == (synthetic.T, synthetic.H, synthetic.W, 3) and video_length(path) == synthetic.T
    picked = read_video(path, [7, 2, 2, 50])  # any order, repeats, and past the end
    np.testing.assert_array_equal(picked, full[[7, 2, 2, synthetic.T - 1]])


def test_dataset_readers_load_no_simulator():
    code = ("import sys, recognition.datasets, recognition.clips; "
            "loaded = [m for m in ('pybullet', 'robosuite', 'mujoco') if m in sys.modules]; "
            "assert not loaded, f'{loaded} imported by the dataset readers'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_lcrnet_writer_and_reader_round_trip(tmp_path):
    from envs.skeletons import LCRNET13, read_lcrnet, write_lcrnet

    kp = np.arange(3 * 13 * 2, dtype=np.float32).reshape(3, 13, 2) + 1
    kp[1] = np.nan  # a frame with nobody in it
    kp[2, 4] = np.nan  # one missing joint
    path = str(tmp_path / "x_pose3d.json")
    write_lcrnet(path, kp, np.zeros((3, len(LCRNET13.joints), 3)))
    back = read_lcrnet(path)
    np.testing.assert_array_equal(back, kp)
