"""Training-step cost of each image-policy backbone inside robomimic, against robomimic's ResNet18, in one process.

python benchmarks/policy_step_cost.py --data data/bench/lift_policy84.hdf5 --steps 20

Each backbone trains robomimic's BC (its own ``train_on_batch``: forward, backward, Adam) on the same demos
with its crop (ResNet18: 84 -> 76 px as robomimic; DeiT: 72 px, patch 8, 4 blocks, the alignment CPU
preset; ``/conv``: with the convolutional stem of ``poseaware.stem``) and batch; the first steps are
warm-up. Prints ms per step and the ratio to ResNet18; the policy budget in ``benchmarks/policy_table.py``
is chosen from these figures.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from typing import Iterable, Iterator

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from alignment.bc import bc_config, build_model, default_crop, policy_inputs, vit_core_kwargs  # noqa: E402
from alignment.policy_data import write_policy_images  # noqa: E402
from envs.dataset_io import EpisodeFile  # noqa: E402


def endless(loader: Iterable) -> Iterator:
    """The loader's batches, again and again: a small demos file runs out before the timed steps do."""
    while True:
        yield from loader


def step_ms(config, steps: int, warmup: int = 3) -> float:
    import robomimic.utils.file_utils as FileUtils
    import robomimic.utils.obs_utils as ObsUtils
    import robomimic.utils.train_utils as TrainUtils

    ObsUtils.initialize_obs_utils_with_config(config)
    meta = FileUtils.get_shape_metadata_from_dataset(config.train.data, all_obs_keys=config.all_obs_keys)
    model = build_model(config, meta)
    trainset, _ = TrainUtils.load_data_for_training(config, obs_keys=meta["all_obs_keys"])
    loader = endless(torch.utils.data.DataLoader(trainset, batch_size=config.train.batch_size, shuffle=True))
    model.set_train()
    times = []
    for step in range(warmup + steps):
        start = time.perf_counter()
        batch = model.postprocess_batch_for_training(model.process_batch_for_training(next(loader)),
                                                     obs_normalization_stats=None)
        model.train_on_batch(batch, epoch=1)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return 1000 * sum(times[warmup:]) / steps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="data/bench/lift_policy84.hdf5")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--cameras", nargs="+", default=["cam0"])
    args = p.parse_args()
    torch.manual_seed(0)
    with EpisodeFile(args.data) as f:
        size, k = f.settings["image_size"], len(f.keypoint_names)
        low_dim = sorted(f.low_dim_obs(f.demos[0]))
    with tempfile.TemporaryDirectory() as tmp:
        pose = os.path.join(tmp, "pose.hdf5")
        rows = {}
        for name in ("resnet18", "baseline", "baseline/conv", "paab", "paat", "paat/conv", "paab+paat"):
            method, _, stem = name.partition("/")
            inputs = policy_inputs("image", args.cameras, method)
            if name == "resnet18":
                config = bc_config(args.data, inputs, 1, args.steps, args.batch, 0, crop=default_crop(size, None),
                                   filter_key=None)
            else:
                crop = default_crop(size, 8)
                encoder = {"method": method, "img_size": crop, "patch_size": 8, "depth": 4, "stem": stem or "patch",
                           "num_keypoints": k if method != "baseline" else None}
                data = args.data
                if method != "baseline":
                    if not os.path.exists(pose):
                        write_policy_images(args.data, pose, args.cameras, low_dim, pose=True)
                    data = pose
                config = bc_config(data, inputs, 1, args.steps, args.batch, 0, filter_key=None, crop=crop,
                                   core_kwargs=vit_core_kwargs(encoder, "tokens", None, False))
            rows[name] = step_ms(config, args.steps)
            print(f"{name}: {rows[name]:.0f} ms/step ({rows[name] / rows['resnet18']:.2f}x ResNet18)", flush=True)
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    print(f"\n{device}, {os.cpu_count()} CPU cores, torch threads {torch.get_num_threads()}, batch {args.batch} x "
          f"{len(args.cameras)} camera(s), {size} px demos")


if __name__ == "__main__":
    main()
