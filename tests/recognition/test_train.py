"""A tiny mocap set end to end: generate, train, evaluate and retrieve for each method."""
import contextlib
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_module

from envs.mocap import MocapConfig, generate_mocap
from envs.output_lock import OutputLocked, exclusive_output
from envs.skeletons import MOCAP_CLASSES
from recognition.datasets import load_split
from recognition.evaluate import evaluate_checkpoint
from recognition.inference import clips_for, load_model, predict
from recognition.retrieve import retrieve
from recognition.task import train


@pytest.fixture(scope="module")
def mocap_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("mocap"))
    summary = generate_mocap(root, MocapConfig(num_cameras=4, videos_per_class=2, num_frames=8,
                                               image_size=(48, 64)), progress=False)
    assert summary["videos"] == 2 * 4 * len(MOCAP_CLASSES)
    return root


def tiny(root, run, *overrides):
    with initialize_config_module("configs", version_base="1.3"):
        return compose("recognition", overrides=[
            "method=baseline", f"data_root={root}", f"run_dir={run}", "dataset.num_frames=4", "dataset.img_size=32",
            "dataset.test_clips=1", "model.preset=micro", "optim.epochs=1", "optim.milestones=[5]", *overrides])


def test_mocap_set_is_in_the_smarthome_layout(mocap_root):
    train = load_split("mocap", mocap_root, "mocap", "train")
    test = load_split("mocap", mocap_root, "mocap", "test")
    assert {r.meta["camera"] for r in train.records} == {1, 2}
    assert {r.meta["camera"] for r in test.records} == {3, 4}
    assert sorted({r.label for r in test.records}) == list(range(len(MOCAP_CLASSES)))
    kp = train.read_keypoints(train.records[0].skeleton_file)
    assert kp.shape == (8, 13, 2) and np.isfinite(kp).mean() > 0.9
    # A rerun keeps what is there.
    assert generate_mocap(mocap_root, MocapConfig(num_cameras=4, videos_per_class=2, num_frames=8,
                                                  image_size=(48, 64)), progress=False)["videos"] == 0


def test_validation_is_carved_from_the_training_side_by_default(mocap_root):
    split = lambda name, validation="train_holdout": load_split("mocap", mocap_root, "mocap", name, validation)
    train, valid, test = split("train"), split("valid"), split("test")
    side = load_split("mocap", mocap_root, "mocap", "train", "test_side")
    videos = lambda s: {r.video for r in s.records}
    subjects = lambda s: {r.meta["subject"] for r in s.records}
    assert videos(train) | videos(valid) == videos(side) and not videos(train) & videos(valid)
    assert not videos(valid) & videos(test) and {r.meta["camera"] for r in valid.records} == {1, 2}
    assert subjects(valid) == {2} and subjects(train) == {1}  # held-out training subjects
    old = split("valid", "test_side")  # the named option for comparison with papers: a test camera
    assert {r.meta["camera"] for r in old.records} == {3}


@pytest.mark.parametrize("method", ["baseline", "paab", "paat"])
def test_train_evaluate_retrieve(mocap_root, tmp_path, method):
    run = str(tmp_path / method)
    with initialize_config_module("configs", version_base="1.3"):
        cfg = compose("recognition", overrides=[
            f"method={method}", f"data_root={mocap_root}", f"run_dir={run}", "dataset.num_frames=4",
            "dataset.img_size=32", "dataset.test_clips=1", "model.preset=micro", "optim.epochs=1",
            "optim.milestones=[1]", "batch_size=8"])
    result = train(cfg)
    # The mocap set is in the Smarthome layout, so its metric is the mean of the per-class accuracies.
    assert result["metric"] == result["mca"] == pytest.approx(np.mean(list(result["per_class"].values())))
    metrics = json.load(open(os.path.join(run, "metrics.json")))
    assert metrics["test"]["metric"] == result["metric"]
    assert metrics["notes"]["validation"] == "train_holdout"
    assert os.path.exists(os.path.join(run, "plots", "confusion_test.png"))
    ckpt = os.path.join(run, "checkpoints", "best.pt")
    again = evaluate_checkpoint(ckpt, out_dir=str(tmp_path))
    assert again["metric"] == pytest.approx(result["metric"])
    spec = {"dataset": "mocap", "protocol": "mocap", "data_root": mocap_root}
    recall = retrieve(ckpt, {**spec, "split": "train"}, {**spec, "split": "test"})
    assert set(recall) == {"R@1", "R@5", "R@10", "R@20"}
    # R@1 recomputed by hand: the query's nearest gallery video by cosine similarity has its class.
    model, meta = load_model(ckpt, torch.device("cpu"))
    _, g_feat, g_lab = predict(model, clips_for(meta, "mocap", "mocap", "train", mocap_root), torch.device("cpu"), 8)
    _, q_feat, q_lab = predict(model, clips_for(meta, "mocap", "mocap", "test", mocap_root), torch.device("cpu"), 8)
    g, q = g_feat / np.linalg.norm(g_feat, axis=1, keepdims=True), q_feat / np.linalg.norm(q_feat, axis=1, keepdims=True)
    assert recall["R@1"] == pytest.approx(float(np.mean(g_lab[(q @ g.T).argmax(1)] == q_lab)))


def test_resume_continues(mocap_root, tmp_path):
    run = str(tmp_path / "resume")

    def cfg(epochs, resume):
        with initialize_config_module("configs", version_base="1.3"):
            return compose("recognition", overrides=[
                "method=baseline", f"data_root={mocap_root}", f"run_dir={run}", "dataset.num_frames=4",
                "dataset.img_size=32", "dataset.test_clips=1", f"optim.epochs={epochs}", "optim.milestones=[5]",
                f"resume={resume}"])

    train(cfg(1, False))
    train(cfg(2, True))
    assert [h["epoch"] for h in json.load(open(os.path.join(run, "metrics.json")))["history"]] == [0, 1]


def test_real_dataset_missing_says_so(tmp_path):
    with initialize_config_module("configs", version_base="1.3"):
        cfg = compose("recognition", overrides=["dataset=ntu", f"data_root={tmp_path}/ntu", f"run_dir={tmp_path}/r"])
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        train(cfg)


def test_ddp_with_two_gloo_processes(mocap_root, tmp_path):
    run = str(tmp_path / "ddp")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "-m", "recognition.train",
           "method=paab", f"data_root={mocap_root}", f"run_dir={run}", "dataset.num_frames=4", "dataset.img_size=32",
           "dataset.test_clips=1", "optim.epochs=1", "optim.milestones=[1]", "batch_size=4"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.load(open(os.path.join(run, "metrics.json")))
    assert set(metrics) == {"history", "best", "test", "notes"} and len(metrics["history"]) == 1
    assert metrics["test"] == evaluate_checkpoint(os.path.join(run, "checkpoints", "best.pt"), out_dir=str(tmp_path))


def test_a_folder_made_otherwise_is_read_as_it_is(mocap_root, tmp_path, capsys):
    from recognition.task import ensure_data

    before = sorted(os.listdir(mocap_root))
    with initialize_config_module("configs", version_base="1.3"):
        cfg = compose("recognition", overrides=[f"data_root={mocap_root}"])  # other generate settings
    ensure_data(cfg, rank=0)
    assert sorted(os.listdir(mocap_root)) == before and "reading them as they are" in capsys.readouterr().out
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "Walk_p01_r01_v01_c01.mp4").write_bytes(b"someone else's video")
    with pytest.raises(ValueError, match="did not make"):
        generate_mocap(str(foreign), MocapConfig(videos_per_class=1))
    assert os.listdir(foreign) == ["Walk_p01_r01_v01_c01.mp4"]


@pytest.mark.parametrize("method, match", [("baseline_bg", "robot masks of alignment data"),
                                           ("paab_mask", "has \\['paab_tokens'\\], which PoseAwareTimeSformer does not take")])
def test_alignment_only_methods_are_refused_by_name(mocap_root, tmp_path, method, match):
    with initialize_config_module("configs", version_base="1.3"):
        cfg = compose("recognition", overrides=["dataset=mocap", f"data_root={mocap_root}", f"run_dir={tmp_path}/r",
                                                f"method={method}", "dataset.num_frames=8", "dataset.img_size=32"])
    with pytest.raises(ValueError, match=match):
        train(cfg)


def test_a_run_dir_in_use_is_refused_naming_the_running_pid(mocap_root, tmp_path):
    run = str(tmp_path / "run")
    with exclusive_output(run, "run_dir"):  # as a training running into run_dir holds it
        with pytest.raises(OutputLocked, match=f"is being written by another run \\(PID {os.getpid()}\\)"):
            train(tiny(mocap_root, run))
    assert not os.path.exists(run)


@pytest.fixture(scope="module")
def trained_run(mocap_root, tmp_path_factory):
    """A finished baseline run's directory (read-only for the tests that use it)."""
    run = str(tmp_path_factory.mktemp("trained") / "run")
    train(tiny(mocap_root, run))
    return run


@pytest.mark.parametrize("refusal, overrides, error, match", [
    ("a run dir that holds a run", [], FileExistsError, "already holds a run"),
    ("a resume with another config", ["method=paab", "resume=true"], ValueError, "cannot resume .* another config"),
    ("a run dir in use", [], OutputLocked, "being written by another run"),
])
def test_a_refused_run_renders_no_missing_mocap_set(trained_run, tmp_path, refusal, overrides, error, match):
    """The run-dir checks come before the mocap set is rendered: a refused command costs no generation."""
    root = str(tmp_path / "mocap")
    # a set that renders in seconds, so that a refusal after rendering it fails here quickly
    small = ["dataset.generate.videos_per_class=1", "dataset.generate.num_frames=4",
             "dataset.generate.image_size=[24,32]"]
    cfg = tiny(root, trained_run, *small, *overrides)
    with contextlib.ExitStack() as stack:
        if refusal == "a run dir in use":
            stack.enter_context(exclusive_output(trained_run, "run_dir"))
        with pytest.raises(error, match=match):
            train(cfg)
    assert not os.path.exists(root)


def test_a_broken_skeleton_of_the_test_split_stops_the_run_before_training(mocap_root, tmp_path):
    root = str(tmp_path / "mocap")
    shutil.copytree(mocap_root, root)
    skeleton = load_split("mocap", root, "mocap", "test").records[-1].skeleton_file
    with open(skeleton, "w") as f:
        f.write('{"njts": 13, "frames": [[{"pose2d": [1, 2')  # cut short
    run = tmp_path / "run"
    with pytest.raises(ValueError, match=f"'{skeleton}' is not a valid lcrnet13 skeleton file .*JSONDecodeError"):
        train(tiny(root, run))
    os.remove(skeleton)
    with pytest.raises(FileNotFoundError, match=f"skeleton file not found: '{skeleton}'"):
        train(tiny(root, run))
    assert not run.exists()  # nothing trained or written


def test_a_trained_run_refuses_a_second_command_changed_data_and_the_other_packages_tools(mocap_root, tmp_path):
    root = str(tmp_path / "mocap")
    shutil.copytree(mocap_root, root)
    run = str(tmp_path / "run")
    train(tiny(root, run))
    ckpt = os.path.join(run, "checkpoints", "best.pt")
    saved = open(os.path.join(run, "config.yaml")).read()
    proc = subprocess.run([sys.executable, "-m", "recognition.train", "method=paab", f"data_root={root}",
                           f"run_dir={run}"], capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0 and "already holds a run" in proc.stdout + proc.stderr
    # The refused command wrote nothing: no Hydra record, the run's config untouched.
    assert not os.path.exists(os.path.join(run, ".hydra")) and open(os.path.join(run, "config.yaml")).read() == saved
    from alignment.embed import embed_file
    from alignment.evaluate import evaluate_checkpoint as evaluate_alignment

    with pytest.raises(ValueError, match="best.pt holds another kind of model than PoseAwareEncoder"):
        evaluate_alignment(ckpt)
    with pytest.raises(ValueError, match="best.pt holds another kind of model than PoseAwareEncoder"):
        embed_file(ckpt, "unused.hdf5", str(tmp_path / "emb.hdf5"), progress=False)
    video = load_split("mocap", root, "mocap", "test").records[0].video
    os.remove(video)  # the test split lost a video since the checkpoint
    os.remove(video.replace(".mp4", "_pose3d.json"))
    test_videos = len(load_split("mocap", mocap_root, "mocap", "test").records)
    with pytest.raises(ValueError, match=f"its data changed since the checkpoint .*videos.test: checkpoint "
                                         f"{test_videos}, now {test_videos - 1}"):
        train(tiny(root, run, "optim.epochs=2", "resume=true"))
    assert len(json.load(open(os.path.join(run, "metrics.json")))["history"]) == 1
