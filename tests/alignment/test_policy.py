"""robomimic BC policies rolled out live: on frozen embeddings, and image policies with the project's encoders inside robomimic
(backbone, keypoint channels, PAAT in the loss, checkpoint selection, resume, camera bins), and their bad input."""
import io
import json
import os
import warnings

import h5py
import imageio.v2 as imageio
import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_module

from alignment.backbone import PoseAwareViTConv
from alignment.policy import run_policy, warn_if_training_camera_moves
from alignment.task import train
from envs.dataset_io import EpisodeFile
from envs.generate import generate_dataset

TINY = ["model.depth=1", "model.patch_size=8", "model.proj_dim=16", "train.epochs=1", "train.steps_per_epoch=1",
        "train.batch_frames=8"]


@pytest.fixture(scope="module")
def pick(tmp_path_factory):
    folder = tmp_path_factory.mktemp("policy")
    data = str(folder / "pick.hdf5")
    generate_dataset("pick", data, episodes=3, image_size=32, num_views=2, progress=False)
    minecraft = str(folder / "minecraft.hdf5")
    generate_dataset("minecraft", minecraft, episodes=3, image_size=32, num_views=2, progress=False)
    checkpoints = {}
    for name, env, source, extra in (("paab", "pick", data, []), ("small", "pick", data, ["model.img_size=16"]),
                                     ("minecraft", "minecraft", minecraft, [])):
        with initialize_config_module("configs", version_base="1.3"):
            cfg = compose("train", overrides=[f"env={env}", "method=paab", f"data={source}",
                                              f"run_dir={folder / name}", *TINY, *extra])
        train(cfg)
        checkpoints[name] = str(folder / name / "checkpoints" / "best.pt")
    return data, checkpoints


def policy_config(data, run_dir, *overrides):
    with initialize_config_module("configs", version_base="1.3"):
        return compose("policy", overrides=["env=pick", f"data={data}", f"run_dir={run_dir}", "bc.epochs=1",
                                            "bc.steps_per_epoch=2", "bc.batch_size=8", "rollouts=2", "videos=1",
                                            "eval_views=[cam0,held0]", *overrides])


def test_a_policy_on_embeddings_trains_with_robomimic_and_rolls_out_with_the_encoder_in_the_loop(pick, tmp_path):
    data, checkpoints = pick
    run = tmp_path / "run"
    results = run_policy(policy_config(data, run, f"checkpoint={checkpoints['paab']}"))
    saved = json.load(open(run / "rollouts.json"))
    assert saved["rollouts"] == results and set(results) == {"cam0", "held0"}
    assert saved["keys"][-1] == "embedding"
    for view, r in results.items():
        assert r["episodes"] == 2 and all(s >= 1 for s in r["steps"])
        # every step's observation went through the encoder: the simulator stepped with it in the loop
        assert r["frames_encoded"] == sum(r["steps"])
        video = run / "videos" / f"{view}_rollout0.mp4"
        assert os.path.getsize(video) > 1000
        frame = imageio.get_reader(str(video)).get_data(0)
        assert frame.shape == (32, 64, 3)  # the evaluation camera beside the overview camera
    assert not (run / "videos" / "cam0_rollout1.mp4").exists()  # videos=1
    with h5py.File(run / "bc_data.hdf5") as f:  # robomimic's layout, next_obs included
        assert f["data/demo_0/obs/embedding"].shape[1] == 16
        assert "embedding" in f["data/demo_0/next_obs"] and "object" in f["data/demo_0/next_obs"]
        assert not [k for k in f["data/demo_0/obs"] if k.endswith("_image")]  # low-dim only
    assert not (run / "embedded.hdf5").exists()
    assert os.path.exists(run / "policy.pt") and os.path.exists(run / "config.yaml")


def test_a_policy_on_two_training_cameras_sees_each_demo_from_both(pick, tmp_path):
    data, checkpoints = pick
    run = tmp_path / "two"
    run_policy(policy_config(data, run, f"checkpoint={checkpoints['paab']}", "train_views=[cam0,cam1]",
                             "eval_views=[held0]", "rollouts=1", "videos=0"))
    with EpisodeFile(data) as src, h5py.File(run / "bc_data.hdf5") as f:
        assert len(f["data"]) == 2 * len(src.demos)
        assert f["data/demo_0"].attrs["source"] == "demo_0 from cam0" and f["data/demo_1"].attrs["source"] == "demo_0 from cam1"
        # the two copies share actions and proprioception; their embeddings differ, as the cameras do
        np.testing.assert_array_equal(f["data/demo_0/actions"][()], f["data/demo_1/actions"][()])
        assert not np.allclose(f["data/demo_0/obs/embedding"][()], f["data/demo_1/obs/embedding"][()])
        train = {n.decode() for n in f["mask/train"][()]}
        source_train = {n.decode() for n in src.file["mask/train"][()]}
        assert train == {f"demo_{2 * int(d.split('_')[1]) + j}" for d in source_train for j in (0, 1)}


def test_a_policy_on_two_training_cameras_is_validated_from_both(pick, tmp_path, monkeypatch):
    import alignment.policy as policy_module
    data, checkpoints = pick
    asked, real = [], policy_module.run_rollouts

    def recorded(policy, view, count, **kwargs):
        asked.append((view, count, kwargs.get("base_seed")))
        return real(policy, view=view, count=count, **kwargs)

    monkeypatch.setattr(policy_module, "run_rollouts", recorded)
    run_policy(policy_config(data, tmp_path / "two", f"checkpoint={checkpoints['paab']}", "train_views=[cam0,cam1]",
                             "eval_views=[held0]", "rollouts=1", "videos=0", "validation.every=1",
                             "validation.rollouts=3"))
    validation = [a for a in asked if a[2] == policy_module.VALIDATION_SEED]
    assert validation == [("cam0", 2, policy_module.VALIDATION_SEED), ("cam1", 1, policy_module.VALIDATION_SEED)]
    with pytest.raises(ValueError, match=r"validation.every=1 needs validation.rollouts >= 1, got 0"):
        run_policy(policy_config(data, tmp_path / "none", "obs=proprio", "validation.every=1", "validation.rollouts=0"))


def test_a_policy_without_vision_encodes_nothing(pick, tmp_path):
    data, _ = pick
    results = run_policy(policy_config(data, tmp_path / "proprio", "obs=proprio", "videos=0", "bc.normalize_obs=true"))
    assert results["cam0"]["frames_encoded"] == 0 and results["cam0"]["episodes"] == 2
    # the camera cannot matter, so it rolls out once; rolled out from another camera it gives the same episodes
    assert results["held0"] == {**results["cam0"], "same_as": "cam0"}
    alone = run_policy(policy_config(data, tmp_path / "held0", "obs=proprio", "videos=0", "eval_views=[held0]"))
    assert alone["held0"]["steps"] == results["cam0"]["steps"]
    # robomimic's observation normalisation: statistics of the train split, saved, and applied at rollout
    from alignment.bc import load_bc
    policy, saved = load_bc(str(tmp_path / "proprio" / "policy.pt"))
    stats = policy.obs_normalization_stats
    assert set(stats) == set(saved["keys"])
    with h5py.File(data) as f:
        eef = np.concatenate([f[f"data/{d.decode()}/obs/robot0_eef_pos"][()] for d in f["mask/train"][()]])
    np.testing.assert_allclose(stats["robot0_eef_pos"]["mean"][0], eef.mean(0), atol=1e-4)
    run_policy(policy_config(data, tmp_path / "plain", "obs=proprio", "videos=0", "rollouts=1"))  # off by default
    assert load_bc(str(tmp_path / "plain" / "policy.pt"))[0].obs_normalization_stats is None


def test_bad_policy_input_is_named(pick, tmp_path):
    data, checkpoints = pick
    with pytest.raises(ValueError, match="trained on 16 px frames.*render 32 px"):
        run_policy(policy_config(data, tmp_path / "a", f"checkpoint={checkpoints['small']}"))
    with pytest.raises(ValueError, match="trained on .*Minecraft.* demos, but .* holds .* demos: it belongs to another env"):
        run_policy(policy_config(data, tmp_path / "f", f"checkpoint={checkpoints['minecraft']}"))
    with pytest.raises(ValueError, match="no views \\['cam9'\\]"):
        run_policy(policy_config(data, tmp_path / "b", f"checkpoint={checkpoints['paab']}", "eval_views=[cam9]"))
    with pytest.raises(ValueError, match="needs checkpoint"):
        run_policy(policy_config(data, tmp_path / "c"))
    with pytest.raises(ValueError, match="fewer than one batch"):
        run_policy(policy_config(data, tmp_path / "e", "obs=proprio", "bc.batch_size=100000"))
    with pytest.raises(ValueError, match="unknown policy observation"):
        run_policy(policy_config(data, tmp_path / "d", "obs=pixels"))
    with pytest.raises(ValueError, match="not a policy"):
        from alignment.bc import load_bc
        load_bc(checkpoints["paab"])


def test_a_training_camera_that_moves_between_demos_is_named(pick, tmp_path):
    data, _ = pick  # the default sector rig draws cam0 anew each episode
    with EpisodeFile(data) as f, pytest.warns(UserWarning, match="camera cam0 moves between demos"):
        warn_if_training_camera_moves(f, "cam0", ["cam0"])
    with EpisodeFile(data) as f, warnings.catch_warnings():  # camera-randomised training: many cameras on purpose
        warnings.simplefilter("error")
        warn_if_training_camera_moves(f, "cam0", ["cam0", "cam1"])
    fixed = str(tmp_path / "fixed.hdf5")
    generate_dataset("pick", fixed, episodes=2, image_size=32, num_views=1, progress=False,
                     rig_overrides={"sampling": "ring", "jitter_azimuth": 0, "jitter_elevation": 0, "jitter_radius": 0})
    with EpisodeFile(fixed) as f, warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_training_camera_moves(f, "cam0", ["cam0"])


# -- image policies: the project's encoders as robomimic's vision backbone, trained end to end -------------

def image_policy_config(data, run_dir, *overrides):
    with initialize_config_module("configs", version_base="1.3"):
        return compose("policy", overrides=["env=pick", f"data={data}", f"run_dir={run_dir}", "obs=image",
                                            "bc.epochs=1", "bc.steps_per_epoch=2", "bc.batch_size=4",
                                            "bc.filter_key=null", "encoder.depth=1", "rollouts=1", "videos=0",
                                            "eval_views=[cam0]", *overrides])


def backbones(policy):
    from alignment.backbone import PoseAwareViTConv
    return [m for m in policy.policy.nets.modules() if isinstance(m, PoseAwareViTConv)]


def test_pose_images_carry_keypoints_through_a_crop_to_the_right_patch():
    from alignment.backbone import keypoints_from_maps, pose_image
    from poseaware import pose_maps

    image = np.zeros((32, 32, 3), np.uint8)
    kp = np.array([[13.7, 5.2], [np.nan, np.nan], [40.0, 3.0], [2.0, 30.5]], np.float32)
    packed = pose_image(image, kp)
    assert packed.shape == (32, 32, 7) and packed[5, 13, 3] == 255 and packed[..., 3].sum() == 255
    assert not packed[..., 4].any() and not packed[..., 5].any()  # missing, and outside the image
    maps = torch.from_numpy(packed[..., 3:]).permute(2, 0, 1)[None].float() / 255
    crop = maps[..., 3:27, 4:28]  # a 24 px crop at row 3, column 4; keypoint 3 (row 30) falls outside
    found = keypoints_from_maps(crop)[0].numpy()
    np.testing.assert_allclose(found[0], [9.5, 2.5])  # pixel (col 13, row 5) seen from the crop's corner
    assert np.isnan(found[1:]).all()
    # the crop's keypoint lands in the patch the shifted original lands in
    p2d_found, _ = pose_maps(found, (24, 24), 8)
    p2d_shifted, _ = pose_maps(kp[:1] - np.array([4, 3], np.float32), (24, 24), 8)
    np.testing.assert_array_equal(p2d_found, p2d_shifted)
    assert p2d_found.sum() == 1 and p2d_found[1] == 1  # row 0, column 1


def keypoints_seen_by_backbone(monkeypatch) -> list:
    """``(training, keypoints found)`` per forward of every project backbone, from now on."""
    from alignment.backbone import PoseAwareViTConv, keypoints_from_maps

    seen, forward = [], PoseAwareViTConv.forward

    def recording(self, inputs):
        seen.append((self.training, int(np.isfinite(keypoints_from_maps(inputs[:, 3:]).numpy()).all(-1).sum())))
        return forward(self, inputs)

    monkeypatch.setattr(PoseAwareViTConv, "forward", recording)
    return seen


def test_an_image_policy_trains_the_pose_aware_backbone_inside_robomimic_and_feeds_paab_keypoints_at_rollout(
        pick, tmp_path, monkeypatch):
    from alignment.bc import load_bc

    data, _ = pick
    seen = keypoints_seen_by_backbone(monkeypatch)
    run = tmp_path / "paab_paat"
    results = run_policy(image_policy_config(data, run, "backbone=paab+paat", "cameras=[cam0,first_person]",
                                             "validation.every=1", "validation.rollouts=1"))
    assert results["cam0"]["episodes"] == 1
    saved = json.load(open(run / "rollouts.json"))
    assert saved["keys"][-2:] == ["cam0_pose_image", "first_person_pose_image"]
    assert saved["train"]["validation"][0]["epoch"] == 1 and saved["kept_epoch"] == 1
    assert saved["train"]["log"]["Auxiliary_Loss"] > 0  # PAAT's loss, logged by pose_bc
    # PAAB saw keypoints in training and at rollout (eval mode), from the live simulator's projection
    assert any(training and found for training, found in seen)
    assert any(not training and found for training, found in seen)
    policy, _ = load_bc(str(run / "policy.pt"))
    assert len(backbones(policy)) == 2  # one per camera, inside robomimic's VisualCore


def one_training_step(config):
    """robomimic's model for ``config`` after one step of its own ``train_on_batch`` on the config's data."""
    import robomimic.utils.file_utils as FileUtils
    import robomimic.utils.obs_utils as ObsUtils
    import robomimic.utils.train_utils as TrainUtils
    from alignment.bc import build_model

    torch.manual_seed(0)
    ObsUtils.initialize_obs_utils_with_config(config)
    meta = FileUtils.get_shape_metadata_from_dataset(config.train.data, all_obs_keys=config.all_obs_keys)
    model = build_model(config, meta)
    trainset, _ = TrainUtils.load_data_for_training(config, obs_keys=meta["all_obs_keys"])
    batch = next(iter(torch.utils.data.DataLoader(trainset, batch_size=4)))
    batch = model.postprocess_batch_for_training(model.process_batch_for_training(batch), obs_normalization_stats=None)
    model.set_train()
    model.train_on_batch(batch, epoch=1)
    return model, batch


def pose_policy_config(pick, tmp_path, method, init=None, freeze=False, stem="patch", target="p3d"):
    from poseaware.runs import read_checkpoint
    from alignment.bc import bc_config, policy_inputs, vit_core_kwargs
    from alignment.policy_data import write_policy_images

    data, _ = pick
    with EpisodeFile(data) as f:
        low_dim, k = sorted(f.low_dim_obs(f.demos[0])), len(f.keypoint_names)
    pose = str(tmp_path / "pose.hdf5")
    write_policy_images(data, pose, ["cam0"], low_dim, pose=True)
    encoder = dict(read_checkpoint(init)["model_config"], img_size=24) if init else {
        "method": method, "img_size": 24, "patch_size": 8, "depth": 1, "num_keypoints": k, "stem": stem,
        "paat_target": target}
    return bc_config(pose, policy_inputs("image", ["cam0"], method), 1, 1, 4, 0,
                     core_kwargs=vit_core_kwargs(encoder, "tokens", init, freeze), crop=24, filter_key=None)


@pytest.mark.parametrize("method", ["paat", "paab"])
def test_only_paab_reads_keypoints_at_deployment(pick, tmp_path, method):
    model, batch = one_training_step(pose_policy_config(pick, tmp_path, method))
    model.set_eval()
    obs = batch["obs"]  # BC's batch: one step per sample
    blank = {k: (torch.cat([v[:, :3], torch.zeros_like(v[:, 3:])], 1) if k.endswith("pose_image") else v)
             for k, v in obs.items()}
    with torch.no_grad():
        same = torch.equal(model.get_action(obs), model.get_action(blank))
    assert same == (method == "paat")  # PAAT's head is off at deployment; PAAB's attention reads the keypoints


def test_rollout_pose_images_carry_the_keypoints_of_the_camera_that_fills_the_slot():
    from alignment.backbone import keypoints_from_maps
    from alignment.rollout import image_inputs
    from envs.eval_cameras import EVAL_VIEW

    import robomimic.utils.obs_utils as ObsUtils

    keys = ["cam0_pose_image", "first_person_pose_image"]
    ObsUtils.initialize_obs_modality_mapping_from_dict({"pose_rgb": keys})  # as the policy's config does
    rng = np.random.default_rng(0)
    obs = {}
    for view, at in (("cam0", (3, 4)), (EVAL_VIEW, (10, 12)), ("first_person", (20, 5))):
        obs[f"{view}_image"] = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
        obs[f"{view}_keypoints"] = np.array([[at[0] + 0.5, at[1] + 0.5], [1.5, 1.5]], np.float32)
        obs[f"{view}_keypoints_visible"] = np.array([1, 0], np.int8)
    for live, expected in ((True, [[10.5, 12.5], [np.nan, np.nan]]), (False, [[np.nan] * 2] * 2)):
        out = image_inputs(obs, keys, {"cam0": EVAL_VIEW, "first_person": "first_person"}, live_pose=live)
        maps = torch.as_tensor(out["cam0_pose_image"][None, 3:])
        np.testing.assert_array_equal(keypoints_from_maps(maps)[0].numpy(), expected)  # the scored camera's
        np.testing.assert_allclose(out["cam0_pose_image"][:3], obs[f"{EVAL_VIEW}_image"].transpose(2, 0, 1) / 255.0,
                                   atol=1e-6)
    wrist = keypoints_from_maps(torch.as_tensor(image_inputs(obs, keys, {"cam0": "cam0", "first_person": "first_person"})
                                                ["first_person_pose_image"][None, 3:]))[0].numpy()
    np.testing.assert_array_equal(wrist, [[20.5, 5.5], [np.nan, np.nan]])


def test_a_paat_policy_is_rolled_out_without_the_simulators_keypoints(pick, tmp_path, monkeypatch):
    data, _ = pick
    seen = keypoints_seen_by_backbone(monkeypatch)
    run_policy(image_policy_config(data, tmp_path / "paat", "backbone=paat", "horizon=3"))
    assert any(training and found for training, found in seen)  # PAAT's loss had its keypoints in training
    assert [found for training, found in seen if not training] == [0] * sum(not t for t, _ in seen) != []


@pytest.mark.parametrize("target", ["p3d", "p3d_softmax"])  # the paper's head, and method=paat_detector's
def test_paat_loss_is_added_to_the_bc_loss(pick, tmp_path, target):
    from robomimic.algo.bc import BC

    model, batch = one_training_step(pose_policy_config(pick, tmp_path, "paab+paat", target=target))
    assert type(model).__name__ == "PoseBC" and isinstance(model, BC)
    predictions = model._forward_training(batch)
    losses = model._compute_losses(predictions, batch)
    base = BC._compute_losses(model, predictions, batch)
    assert losses["auxiliary_loss"] > 0
    np.testing.assert_allclose(losses["action_loss"].item(), (base["action_loss"] + losses["auxiliary_loss"]).item(),
                               rtol=1e-6)


@pytest.mark.parametrize("freeze", [False, True])
def test_a_fine_tuned_backbone_gets_gradients_and_a_frozen_one_none(pick, tmp_path, freeze):
    from alignment.backbone import PoseAwareViTConv
    from poseaware.runs import read_checkpoint

    _, checkpoints = pick
    model, _ = one_training_step(pose_policy_config(pick, tmp_path, "paab", checkpoints["paab"], freeze))
    (backbone,) = [m for m in model.nets.modules() if isinstance(m, PoseAwareViTConv)]
    grads = {name: p.grad for name, p in backbone.encoder.named_parameters()}
    if freeze:
        assert all(g is None for g in grads.values())
    else:  # all but the alignment projection head, which the token map does not pass through
        assert {n for n, g in grads.items() if g is None or not g.abs().sum()} == {"head.weight", "head.bias"}
    # it started from the alignment checkpoint: a weight the step left alone (frozen) or barely moved
    trained = read_checkpoint(checkpoints["paab"])["state_dict"]["model.vit.blocks.0.attn.qkv.weight"]
    moved = float((backbone.encoder.vit.blocks[0].attn.qkv.weight.detach() - trained).abs().max())
    assert moved == 0 if freeze else 0 < moved < 1e-3


def test_a_saved_image_policy_reloads_without_its_init_checkpoint_with_its_fine_tuned_weights(pick, tmp_path):
    import shutil

    from alignment.bc import load_bc
    from poseaware.runs import read_checkpoint

    data, checkpoints = pick
    init = tmp_path / "init.pt"
    shutil.copy(checkpoints["paab"], init)
    run = tmp_path / "finetuned"
    run_policy(image_policy_config(data, run, "backbone=paab", f"init={init}", "rollouts=1"))
    os.remove(init)  # the policy file holds the fine-tuned weights
    first, _ = load_bc(str(run / "policy.pt"))
    state = torch.load(run / "training_state.pt", weights_only=True)
    trained = state["model"]  # the model as training left it
    with EpisodeFile(data) as demos:  # what a resume checks the demos against
        assert state["demos_digest"] == demos.digest()
    for key, value in first.policy.nets.state_dict().items():
        torch.testing.assert_close(value, trained[key], rtol=0, atol=0)
    (backbone,) = backbones(first)
    start = read_checkpoint(checkpoints["paab"])["state_dict"]["model.vit.blocks.0.attn.qkv.weight"]
    assert not torch.equal(backbone.encoder.vit.blocks[0].attn.qkv.weight, start)  # fine-tuned, not the init


def demo_step(data: str, keys, step: int = 3) -> dict:
    """One step's observation of the first demo, as robomimic's rollout hands it to the policy."""
    import robomimic.utils.obs_utils as ObsUtils

    with h5py.File(data) as f:
        return {k: ObsUtils.process_obs(obs=f[f"data/demo_0/obs/{k}"][step], obs_key=k) for k in keys}


@pytest.mark.parametrize("method, stem", [("paab", "patch"), ("paab", "conv"), ("paat", "patch"), ("paat", "conv")])
def test_a_saved_policy_acts_as_the_policy_did_before_it_was_saved(pick, tmp_path, method, stem):
    from alignment.bc import load_bc, train_bc

    config = pose_policy_config(pick, tmp_path, method, stem=stem)  # the conv stem's BatchNorm statistics too
    live = {}

    def validate(policy, epoch):  # the policy in memory, as training hands it to its validation rollouts
        policy.start_episode()
        live[epoch] = policy(demo_step(config.train.data, config.all_obs_keys))
        return 1.0

    run = str(tmp_path / "run")
    train_bc(config, run, progress=False, validate=validate, validate_every=1)
    reloaded, saved = load_bc(os.path.join(run, "policy.pt"))
    assert saved["epoch"] == 1 and list(live) == [1]
    reloaded.start_episode()
    after = reloaded(demo_step(config.train.data, saved["keys"]))
    assert np.abs(after).max() > 0
    np.testing.assert_array_equal(after, live[1])


def test_the_best_validated_epoch_is_kept_not_the_last_through_a_resume(pick, tmp_path):
    from alignment.bc import train_bc

    config = pose_policy_config(pick, tmp_path, "paab")
    with config.values_unlocked():
        config.train.num_epochs = 4
    rates, weights = {1: 0.1, 2: 0.5, 3: 0.2, 4: 0.5}, {}  # epoch 4 ties epoch 2: the first best stays

    def validate(policy, epoch):
        weights[epoch] = {k: v.clone() for k, v in policy.policy.serialize().items()}
        if epoch == 3 and 3 not in rates:
            raise KeyboardInterrupt
        return rates[epoch]

    run = str(tmp_path / "run")
    rate3 = rates.pop(3)
    with pytest.raises(KeyboardInterrupt):  # killed at epoch 3, after epoch 2's best
        train_bc(config, run, progress=False, validate=validate, validate_every=1)
    rates[3] = rate3
    record = train_bc(config, run, progress=False, validate=validate, validate_every=1)
    assert record["best"] == {"epoch": 2, "success_rate": 0.5}
    kept = torch.load(os.path.join(run, "policy.pt"), weights_only=True)
    assert kept["epoch"] == 2
    for key, value in kept["model"].items():
        torch.testing.assert_close(value, weights[2][key], rtol=0, atol=0)
    assert any(not torch.equal(value, weights[4][key]) for key, value in kept["model"].items())


def test_the_gmm_head_is_warned_off_demos_with_an_action_that_never_changes(tmp_path):
    from alignment.bc import warn_if_gmm_cannot_fit
    data = str(tmp_path / "demos.hdf5")
    rng = np.random.default_rng(0)
    with h5py.File(data, "w") as f:
        for demo in ("demo_0", "demo_1"):  # dimension 1 is zero throughout, as a scripted demo's rotation
            actions = rng.uniform(-1, 1, (5, 3))
            actions[:, 1] = 0
            f[f"data/{demo}/actions"] = actions
    with pytest.warns(UserWarning, match=r"action dimensions \[1\] never change .* default MLP head"):
        warn_if_gmm_cannot_fit(True, data)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_gmm_cannot_fit(False, data)  # the MLP head fits such demos
        with h5py.File(data, "a") as f:
            f["data/demo_1/actions"][0, 1] = 0.5  # one step that differs: every dimension varies
        warn_if_gmm_cannot_fit(True, data)


def test_a_resumed_gpu_training_restores_the_gpu_generators(monkeypatch):
    from types import SimpleNamespace

    from alignment import bc
    saved, restored = [torch.tensor([7, 1], dtype=torch.uint8)], []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: saved)
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", restored.append)
    model = SimpleNamespace(serialize=dict, deserialize=lambda _: None, optimizers={}, lr_schedulers={})
    state = bc._training_state(model)
    bc._restore_training_state(model, state)
    assert restored == [saved]
    bc._restore_training_state(model, {k: v for k, v in state.items() if k != "cuda_rng"})  # saved before it was kept
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)  # resumed on another number of GPUs: left as seeded
    bc._restore_training_state(model, state)
    assert restored == [saved]


def test_an_interrupted_policy_training_resumes_where_it_stopped(pick, tmp_path):
    from alignment.bc import resumable_state, train_bc

    config = pose_policy_config(pick, tmp_path, "paab")
    with config.values_unlocked():
        config.train.num_epochs = 3

    def interrupt_at(stop):
        def validate(policy, epoch):
            if epoch == stop:
                raise KeyboardInterrupt
            return 0.1 * epoch
        return validate

    with pytest.raises(KeyboardInterrupt):
        train_bc(config, str(tmp_path / "run"), progress=False, validate=interrupt_at(2), validate_every=1)
    assert json.load(open(tmp_path / "run" / "training.json"))["epoch"] == 1
    record = train_bc(config, str(tmp_path / "run"), progress=False, validate=interrupt_at(None), validate_every=1)
    assert [v["epoch"] for v in record["validation"]] == [1, 2, 3]  # epoch 1 from the first run, then 2 and 3
    assert record["best"] == {"epoch": 3, "success_rate": pytest.approx(0.3)}
    # the resumed run ends where an uninterrupted one does: weights, optimiser and batches were restored
    whole_record = train_bc(config, str(tmp_path / "whole"), progress=False, validate=interrupt_at(None),
                            validate_every=1)
    resumed, whole = (torch.load(tmp_path / r / "training_state.pt", weights_only=True) for r in ("run", "whole"))
    for key, value in whole["model"].items():
        torch.testing.assert_close(resumed["model"][key], value, rtol=0, atol=0)
    # every epoch's losses are kept through the resume, and plotted with the validations
    assert [h["epoch"] for h in record["history"]] == [1, 2, 3]
    def losses(history):
        return [{k: v for k, v in h.items() if k.endswith("Loss")} for h in history]
    assert losses(record["history"]) == losses(whole_record["history"])
    assert record["history"][-1]["Loss"] == record["log"]["Loss"]
    assert (tmp_path / "run" / "training_curve.png").stat().st_size > 0
    with pytest.raises(ValueError, match="other inputs"):
        train_bc(config, str(tmp_path / "run"), progress=False, resume_key={"data": "another.hdf5"})
    with config.values_unlocked():
        config.train.batch_size = 2
    with pytest.raises(ValueError, match="another config"):
        train_bc(config, str(tmp_path / "run"), progress=False)
    with config.values_unlocked():
        config.train.batch_size = 4
    # the demos' digest: a state saved before it was kept resumes on any; one saved with it, on the same demos only
    state_path = tmp_path / "run" / "training_state.pt"
    assert resumable_state(config, str(tmp_path / "run"), None, "now") is not None
    torch.save({**torch.load(state_path, weights_only=True), "demos_digest": "then"}, state_path)
    assert resumable_state(config, str(tmp_path / "run"), None, "then") is not None
    with pytest.raises(ValueError, match="on demos that have changed since .* overwrite=true"):
        resumable_state(config, str(tmp_path / "run"), None, "now")
    with pytest.raises(ValueError, match="on demos that have changed since"):
        train_bc(config, str(tmp_path / "run"), progress=False, demos_digest="now")


def test_bad_image_policy_input_is_named(pick, tmp_path):
    data, checkpoints = pick
    with pytest.raises(ValueError, match="multiple of|divisible|patch"):
        run_policy(image_policy_config(data, tmp_path / "a", "backbone=paab", "crop=20"))
    for crop in (32, 40):  # the demos are 32 px: robomimic's crop would only assert
        with pytest.raises(ValueError, match=f"crop={crop} does not fit the demos' 32 px images.*0 < crop < 32"):
            run_policy(image_policy_config(data, tmp_path / "a", "backbone=resnet18", f"crop={crop}"))
    from alignment.backbone import PoseAwareViTConv  # the backbone's own guard, for images of another size
    backbone = PoseAwareViTConv(3, {"method": "baseline", "img_size": 24, "patch_size": 8, "preset": "tiny", "depth": 1})
    with pytest.raises(ValueError, match="built for 24 px inputs but gets 32x32"):
        backbone.output_shape([3, 32, 32])
    assert backbone.output_shape([3, 24, 24]) == [192, 3, 3]
    with pytest.raises(ValueError, match="belongs to another env"):
        run_policy(image_policy_config(data, tmp_path / "b", "backbone=paab", f"init={checkpoints['minecraft']}"))
    with pytest.raises(ValueError, match="holds a 'paab' encoder, but backbone=paat"):
        run_policy(image_policy_config(data, tmp_path / "c", "backbone=paat", f"init={checkpoints['paab']}"))
    with pytest.raises(ValueError, match="resnet18 trains from scratch"):
        run_policy(image_policy_config(data, tmp_path / "d", f"init={checkpoints['paab']}"))
    with pytest.raises(ValueError, match="unknown backbone"):
        run_policy(image_policy_config(data, tmp_path / "e", "backbone=vit"))
    # robomimic 0.3.0 cannot normalise images (it would fail only after reading every frame's statistics)
    with pytest.raises(ValueError, match="bc.normalize_obs=true normalises every observation, images too.*cam0_image"):
        run_policy(image_policy_config(data, tmp_path / "f", "bc.normalize_obs=true"))
    # evaluation cameras that cannot fill the policy's cameras are refused before training
    with pytest.raises(ValueError, match="first-person policy is evaluated from first_person only"):
        run_policy(image_policy_config(data, tmp_path / "g", "cameras=[first_person]", "eval_views=[cam0]"))
    with pytest.raises(ValueError, match="would fill both"):
        run_policy(image_policy_config(data, tmp_path / "h", "cameras=[cam0,first_person]",
                                       "eval_views=[first_person]"))
    assert not (tmp_path / "g").exists() and not (tmp_path / "h").exists()


@pytest.mark.parametrize("stem", ["patch", "conv"])
def test_the_encoder_stem_option_reaches_the_backbone_robomimic_builds(tmp_path, stem):
    from alignment.policy import image_backbone

    cfg = image_policy_config("unused.hdf5", tmp_path, "backbone=baseline", f"encoder.stem={stem}")
    core_kwargs, crop = image_backbone(cfg, 32, ["joint"], cfg.data)
    backbone = PoseAwareViTConv(**core_kwargs["backbone_kwargs"])
    assert isinstance(backbone.encoder.vit.patch_embed.proj, torch.nn.Sequential) == (stem == "conv")


def test_paats_head_settings_reach_the_backbone_and_are_refused_where_no_paat_head_takes_them(tmp_path):
    from alignment.policy import image_backbone

    cfg = image_policy_config("unused.hdf5", tmp_path, "backbone=paat", "encoder.depth=2", "encoder.paat_after=2",
                              "encoder.paat_target=p3d_softmax")
    core_kwargs, _ = image_backbone(cfg, 32, ["joint", "hand"], cfg.data)
    encoder = PoseAwareViTConv(input_channel=5, **core_kwargs["backbone_kwargs"]).encoder
    assert (encoder.paat_after, encoder.paat.target) == (2, "p3d_softmax")  # method=paat_detector's head
    # the defaults (the paper's head after block 1) stay out of the robomimic config, which runs made before
    # these settings existed hold, so they resume unchanged
    default, _ = image_backbone(image_policy_config("unused.hdf5", tmp_path, "backbone=paat"), 32, ["joint"], "x")
    assert not {"paat_after", "paat_target"} & set(default["backbone_kwargs"]["encoder_config"])
    for backbone in ("baseline", "paab", "resnet18"):
        with pytest.raises(ValueError, match="encoder.paat_target set PAAT's head"):
            image_backbone(image_policy_config("unused.hdf5", tmp_path, f"backbone={backbone}",
                                               "encoder.paat_target=p3d_softmax"), 32, ["joint"], "x")


def test_the_default_evaluation_views_suit_every_camera_setting():
    from alignment.rollout import camera_map, default_eval_views

    assert default_eval_views([]) == ["cam0", "held0", "held1", "first_person"]
    assert default_eval_views(["cam0"]) == ["cam0", "held0", "held1", "first_person"]
    assert default_eval_views(["cam0", "first_person"]) == ["cam0", "held0", "held1"]  # robomimic's setting
    assert default_eval_views(["first_person"]) == ["first_person"]
    for cameras in (["cam0"], ["cam0", "first_person"], ["first_person"], ["cam2"]):
        for view in default_eval_views(cameras):
            camera_map(cameras, view)  # none refused, so the README's commands run without eval_views


def test_robomimic_image_configs_read_generated_files_unchanged_offline_rl_included(pick):
    import robomimic.utils.file_utils as FileUtils
    import robomimic.utils.obs_utils as ObsUtils
    import robomimic.utils.train_utils as TrainUtils
    from robomimic.config import config_factory

    data, _ = pick
    config = config_factory("iql")
    with config.values_unlocked():
        config.train.data = data
        config.train.hdf5_cache_mode = "low_dim"
        config.observation.modalities.obs.low_dim = ["robot0_eef_pos"]
        config.observation.modalities.obs.rgb = ["cam0_image"]
    ObsUtils.initialize_obs_utils_with_config(config)
    meta = FileUtils.get_shape_metadata_from_dataset(data, all_obs_keys=config.all_obs_keys)
    trainset, _ = TrainUtils.load_data_for_training(config, obs_keys=meta["all_obs_keys"])
    first, second = trainset[0], trainset[1]  # consecutive steps of demo 0
    np.testing.assert_array_equal(first["next_obs"]["cam0_image"], second["obs"]["cam0_image"])
    with h5py.File(data) as f:  # robomimic's next_obs without a second copy of the pixels
        assert f["data/demo_0/next_obs/cam0_image"].is_virtual


def test_a_policy_is_scored_from_cameras_drawn_by_angle_past_its_training_cameras(pick, tmp_path):
    data, _ = pick
    run = tmp_path / "angles"
    results = run_policy(image_policy_config(data, run, "backbone=baseline", "eval_views=[train,beyond30]",
                                             "rollouts=2", "horizon=5"))
    for name, low, high in (("train", None, None), ("beyond30", 22.5, 37.5)):
        cameras = results[name]["cameras"]
        assert len(cameras) == 2 and all(c["bin"] == name for c in cameras)
        assert all(s <= 5 for s in results[name]["steps"])  # the horizon ends each rollout
        if low is not None:
            assert all(low <= c["azimuth_past_sector"] <= high for c in cameras)
        else:
            assert all(c["azimuth_past_sector"] <= 0 for c in cameras)
    assert os.path.getsize(run / "success_by_angle.png") > 1000
    with pytest.raises(ValueError, match="no views \\['beyond99'\\].*camera bin: train, beyond15"):
        run_policy(image_policy_config(data, tmp_path / "bad", "backbone=baseline", "eval_views=[beyond99]"))


def test_views_rolled_out_side_by_side_are_the_same_episodes_and_resume_where_they_stopped(pick, tmp_path):
    from alignment.evaluate_policy import evaluate_policy
    from alignment.rollout_workers import rollouts_in_workers

    data, _ = pick
    run = tmp_path / "workers"
    views = "eval_views=[train,beyond30,cam0]"
    # the camera solved from the arm, validated: the workers get a camera input that has run episodes here
    alone = run_policy(image_policy_config(data, run, "backbone=baseline", views, "rollouts=2", "horizon=6",
                                           "camera_input=arm", "validation.every=1", "validation.rollouts=1"))

    def evaluation(out, *overrides):
        with initialize_config_module("configs", version_base="1.3"):
            return evaluate_policy(compose("evaluate_policy", overrides=[f"run_dir={run}", "rollouts=2", views,
                                                                         f"out={out}", *overrides]))

    side_by_side = evaluation(tmp_path / "two.json", "rollout_workers=2")
    assert side_by_side == alone  # seeds, cameras, steps and outcomes: the one process's episodes
    # killed with beyond30 one episode in and cam0 not started: the next call continues them (a made-up first
    # outcome that no rerun would give shows the episode was kept, not played again)
    saved = json.load(open(tmp_path / "two.json"))
    first = {k: v[:1] if isinstance(v, list) else v for k, v in saved["rollouts"]["beyond30"].items()
             if k in ("successes", "steps", "episode_seeds", "cameras", "frames_encoded")}
    made_up = not first["successes"][0]
    saved["rollouts"]["beyond30"] = {"partial": {"view": "beyond30", "successes": [made_up], "steps": first["steps"],
                                                 "seeds": first["episode_seeds"], "cameras": first["cameras"],
                                                 "frames_encoded": first["frames_encoded"]}}
    del saved["rollouts"]["cam0"]
    (tmp_path / "two.json").write_text(json.dumps(saved))
    resumed = evaluation(tmp_path / "two.json", "rollout_workers=2")
    assert resumed["beyond30"]["successes"] == [made_up] + alone["beyond30"]["successes"][1:]
    assert resumed["cam0"] == alone["cam0"] and resumed["train"] == alone["train"]
    with pytest.raises(ValueError, match="rollout_workers must be a whole number >= 1, got 0"):
        evaluation(tmp_path / "zero.json", "rollout_workers=0")
    with pytest.raises(ValueError, match="is not a policy saved by alignment.policy"):  # a worker's error, raised here
        rollouts_in_workers(str(tmp_path / "two.json"), ["cam0", "train"], 2, {}, lambda view, r: None)


def test_a_rollout_worker_whose_parent_is_gone_stops_at_once(monkeypatch):
    import alignment.rollout_workers as workers

    parents = iter([7, 7, 1])  # the parent's PID, then init's: the parent was killed
    polls = []
    monkeypatch.setattr(workers.os, "getppid", lambda: polls.append(1) or next(parents))
    monkeypatch.setattr(workers.time, "sleep", lambda seconds: None)

    def exit_now(code):  # os._exit: the process ends (an exception would leave the pool's loop waiting)
        raise SystemExit(code)

    monkeypatch.setattr(workers.os, "_exit", exit_now)
    with pytest.raises(SystemExit):
        workers._exit_when_orphaned(7)
    assert len(polls) == 3  # it watched while the parent lived


def test_the_backbone_feature_map_is_the_token_grid_row_by_row():
    from alignment.backbone import PoseAwareViTConv

    torch.manual_seed(0)
    conv = PoseAwareViTConv(3, {"method": "baseline", "img_size": 24, "patch_size": 8, "depth": 1}).eval()
    images = torch.rand(2, 3, 24, 24)
    with torch.no_grad():
        features = conv(images)
        from poseaware.inputs import normalize_images
        tokens, _ = conv.encoder.forward_features(normalize_images(images))
    assert features.shape == (2, conv.encoder.vit.embed_dim, 3, 3)
    for row in range(3):
        for col in range(3):  # timm's token order: 1 (CLS) + row * columns + col
            torch.testing.assert_close(features[:, :, row, col], tokens[:, 1 + row * 3 + col])


def test_the_keypoint_crop_matches_robomimics_crop_on_the_image_and_moves_the_keypoints_with_it():
    from robomimic.models.obs_core import CropRandomizer
    from alignment.backbone import KeypointCropRandomizer

    images = torch.rand(2, 5, 32, 32)
    ours = KeypointCropRandomizer(input_shape=(5, 32, 32), crop_height=24, crop_width=24).eval()
    theirs = CropRandomizer(input_shape=(3, 32, 32), crop_height=24, crop_width=24).eval()
    torch.testing.assert_close(ours.forward_in(images)[:, :3], theirs.forward_in(images[:, :3]))
    torch.manual_seed(1)
    cropped = ours.train().forward_in(images)  # robomimic's random crop, every channel at the same offset
    torch.manual_seed(1)
    torch.testing.assert_close(cropped[:, :3], theirs.train().forward_in(images[:, :3]))


def test_an_image_policy_trained_on_several_cameras_sees_each_demo_once_from_each(pick, tmp_path, monkeypatch):
    import alignment.policy as policy_module

    data, _ = pick  # the sector rig: cam0 and cam1 are drawn per episode from the training sector
    run = tmp_path / "randomised"
    views, rollouts = [], policy_module.run_rollouts
    monkeypatch.setattr(policy_module, "run_rollouts", lambda *a, **k: views.append(k["view"]) or rollouts(*a, **k))
    run_policy(image_policy_config(data, run, "backbone=resnet18", "cameras=[cam0,first_person]",
                                   "train_views=[cam0,cam1]", "eval_views=[cam0]", "rollouts=1", "horizon=3",
                                   "validation.every=1", "validation.rollouts=1"))
    assert views == ["train", "cam0"]  # validated from cameras across its training sector, not cam0's own; tested
    with EpisodeFile(data) as src, h5py.File(run / "policy_data.hdf5") as f:
        assert len(f["data"]) == 2 * len(src.demos)
        assert f["data/demo_1"].attrs["source"] == "demo_0 with cam0 from cam1"
        # the policy's cam0 slot holds cam1's frames in the second copy; the wrist camera stays itself
        np.testing.assert_array_equal(f["data/demo_1/obs/cam0_image"][()], src.view_obs("demo_0", "cam1", "image"))
        np.testing.assert_array_equal(f["data/demo_1/obs/first_person_image"][()],
                                      src.view_obs("demo_0", "first_person", "image"))
        np.testing.assert_array_equal(f["data/demo_0/actions"][()], f["data/demo_1/actions"][()])
        assert f["data/demo_1/next_obs/cam0_image"].is_virtual


def test_rollout_success_is_zero_for_an_arm_that_stays_still_and_full_for_the_scripted_expert(monkeypatch):
    from alignment import rollout

    made, grad_enabled = [], []

    class Recording(rollout.MultiViewEnv):  # the env run_rollouts makes, so the expert can read its state
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    class Still:
        def start_episode(self):
            pass

        def __call__(self, ob):
            grad_enabled.append(torch.is_grad_enabled())
            return np.zeros(made[-1].action_space.shape, np.float32)

    class Expert(Still):
        def __call__(self, ob):
            return made[-1].scripted_action()

    monkeypatch.setattr(rollout, "MultiViewEnv", Recording)
    settings = {"image_size": 32, "first_person": False, "rig": None}
    still = rollout.run_rollouts(Still(), "pick", settings, "cam0", ["robot0_eef_pos"], count=2, horizon=30)
    expert = rollout.run_rollouts(Expert(), "pick", settings, "cam0", ["robot0_eef_pos"], count=2)
    assert still.success_rate == 0.0 and still.steps == [30, 30]  # the metric's floor: nothing happens
    assert expert.success_rate == 1.0 and max(expert.steps) < made[-1].max_episode_steps  # and its ceiling
    assert len(grad_enabled) == 60 and not any(grad_enabled)  # the policy acts without building autograd graphs


def test_robomimic_config_values_reach_robomimic_by_path_and_bad_paths_are_named(pick, tmp_path):
    from alignment.bc import bc_config, load_bc, policy_inputs, train_bc

    data, _ = pick
    schedule = {"algo": {"gmm": {"enabled": True},  # robomimic's GMM head, and its lr decay after epoch 1
                         "optim_params": {"policy": {"learning_rate": {"epoch_schedule": [1], "decay_factor": 0.1}}}}}
    config = bc_config(data, policy_inputs("proprio"), 2, 2, 8, 0, filter_key=None, robomimic=schedule)
    assert config.algo.gmm.enabled and config.algo.optim_params.policy.learning_rate.epoch_schedule == [1]
    record = train_bc(config, str(tmp_path / "run"), progress=False)
    assert [h["Optimizer/policy0_lr"] for h in record["history"]] == pytest.approx([1e-4, 1e-5])
    assert type(load_bc(str(tmp_path / "run" / "policy.pt"))[0].policy).__name__ == "BC_GMM"
    plain = train_bc(bc_config(data, policy_inputs("proprio"), 2, 2, 8, 0, filter_key=None), str(tmp_path / "plain"),
                     progress=False)
    assert [h["Optimizer/policy0_lr"] for h in plain["history"]] == pytest.approx([1e-4, 1e-4])
    with pytest.raises(ValueError, match="no 'gmn' under algo; its keys there: .*gmm"):
        bc_config(data, policy_inputs("proprio"), 1, 1, 8, 0, robomimic={"algo": {"gmn": {"enabled": True}}})
    with pytest.raises(ValueError, match=r"bc.robomimic.train.num_epochs is set by the policy's own options \(bc.epochs\)"):
        bc_config(data, policy_inputs("proprio"), 1, 1, 8, 0, robomimic={"train": {"num_epochs": 5}})


def test_an_image_encoders_open_settings_reach_robomimic_and_the_owned_ones_are_refused(pick, tmp_path):
    import robomimic.utils.file_utils as FileUtils
    import robomimic.utils.obs_utils as ObsUtils
    from robomimic.models.base_nets import SpatialSoftmax

    from alignment.bc import bc_config, build_model, policy_inputs

    data, _ = pick
    inputs = policy_inputs("image", ["cam0"], "resnet18")

    def keypoints(robomimic=None):  # SpatialSoftmax's keypoint count in the model robomimic builds
        config = bc_config(data, inputs, 1, 1, 4, 0, crop=24, filter_key=None, robomimic=robomimic)
        ObsUtils.initialize_obs_utils_with_config(config)  # the keys' modalities, for the shapes
        meta = FileUtils.get_shape_metadata_from_dataset(data, all_obs_keys=config.all_obs_keys)
        (pool,) = [m for m in build_model(config, meta).nets.modules() if isinstance(m, SpatialSoftmax)]
        return pool._num_kp

    assert keypoints() == 32  # robomimic's default
    assert keypoints({"observation": {"encoder": {"rgb": {"core_kwargs": {"pool_kwargs": {"num_kp": 16}}}}}}) == 16
    for path, option in (({"rgb": {"obs_randomizer_kwargs": {"crop_height": 20}}}, "crop"),
                         ({"rgb": {"core_kwargs": {"backbone_class": "ResNet50Conv"}}}, "backbone"),
                         ({"rgb": {"core_kwargs": {"pool_class": None}}}, "readout")):
        with pytest.raises(ValueError, match=rf"set by the policy's own options \({option}"):
            bc_config(data, inputs, 1, 1, 4, 0, crop=24, robomimic={"observation": {"encoder": path}})
    with pytest.raises(ValueError, match=r"set by the policy's own options \(obs, cameras and backbone\)"):
        bc_config(data, inputs, 1, 1, 4, 0, robomimic={"observation": {"modalities": {"obs": {"rgb": ["held0_image"]}}}})
    with pytest.raises(ValueError, match="modality 'depth', so its encoder is unused; this policy's modalities are "
                                         "low_dim, rgb"):
        bc_config(data, inputs, 1, 1, 4, 0, robomimic={"observation": {"encoder": {"depth": {"core_kwargs": {
            "pool_kwargs": {"num_kp": 16}}}}}})


def test_robomimics_rnn_policy_trains_on_sequences_and_rolls_out_with_keypoints(pick, tmp_path):
    from alignment.bc import load_bc

    data, _ = pick
    run = tmp_path / "rnn"
    results = run_policy(policy_config(data, run, "obs=image", "backbone=paab", "encoder.depth=1", "bc.batch_size=4",
                                       "bc.filter_key=null", "eval_views=[cam0]", "rollouts=1", "videos=0",
                                       "+bc.robomimic.algo.rnn.enabled=true", "+bc.robomimic.algo.rnn.horizon=5",
                                       "+bc.robomimic.train.seq_length=5"))
    assert results["cam0"]["episodes"] == 1
    policy, saved = load_bc(str(run / "policy.pt"))
    assert type(policy.policy).__name__ == "PoseBC_RNN" and json.loads(saved["config"])["train"]["seq_length"] == 5


def test_a_run_dir_holding_another_training_is_refused_before_its_files_are_rewritten(pick, tmp_path):
    data, _ = pick
    run = tmp_path / "run"
    first = image_policy_config(data, run, "backbone=paab", "horizon=3")
    run_policy(first)
    saved = {name: (run / name).read_bytes() for name in ("config.yaml", "policy_data.hdf5", "policy.pt")}
    os.remove(run / "rollouts.json")  # as a run killed in its test rollouts: trained, not yet tested
    assert run_policy(first)["cam0"]["episodes"] == 1  # the same settings resume: tested, not trained again
    before, after = (torch.load(p, weights_only=True) for p in (io.BytesIO(saved["policy.pt"]), run / "policy.pt"))
    assert before["epoch"] == after["epoch"]
    assert all(torch.equal(v, after["model"][k]) for k, v in before["model"].items())
    saved = {name: (run / name).read_bytes() for name in saved}
    os.remove(run / "rollouts.json")
    # other inputs (the camera's pose beside the image: another policy file) and another robomimic config
    for change in ("camera_input=extrinsics", "bc.steps_per_epoch=3"):
        with pytest.raises(ValueError, match="another config or other inputs"):
            run_policy(image_policy_config(data, run, "backbone=paab", "horizon=3", change))
        for name, content in saved.items():  # the finished run's record still describes its policy
            assert (run / name).read_bytes() == content, (change, name)
