"""Views rendered per second: the generator against the simulator's bare render loop.

python benchmarks/generation_speed.py [--envs pick lift can] [--episodes 2] [--image-size 128]

The bare loop steps the same scripted policy and renders the same cameras with the simulator's
own calls (pybullet: getCameraImage; robosuite: sim.render for RGB and segmentation, as its
camera observables do), in the same process. Worker scaling runs envs.generate with 1 and 2 workers.
"""
import argparse
import os
import tempfile
import time

from envs.cameras import make_rig
from envs.generate import generate_dataset
from envs.recorder import episode_seed, record_episode, rig_for, views_now
from envs.registry import make_simulator


def bare_loop(sim, rig_cfg, seed: int, size: int) -> int:
    """Step the policy and render every view with the simulator's own render calls only."""
    sim.reset(seed)
    rig = make_rig(rig_cfg, size, size, seed)
    sim.set_rig(rig)
    views = 0
    for _ in range(sim.max_steps):
        for cam in views_now(sim, rig, True, size):
            sim.render(cam)
            views += 1
        sim.step(sim.scripted_action())
        if sim.success():
            break
    return views


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--envs", nargs="+", default=["pick", "lift", "can", "minecraft"])
    parser.add_argument("--episodes", type=int, default=2)
    parser.add_argument("--image-size", type=int, default=128)
    args = parser.parse_args()
    size = args.image_size
    print(f"{size} px, {os.cpu_count()} cpus")
    print("| env | views | generator views/s | bare loop views/s | ratio | 1 worker demos/s | 2 workers demos/s |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for env in args.envs:
        sim = make_simulator(env)
        rig_cfg = rig_for(type(sim))
        gen_views = gen_time = bare_views = bare_time = 0.0
        for i in range(args.episodes):  # alternate so load drifts affect both alike
            seed = episode_seed(0, i)
            t = time.perf_counter()
            ep = record_episode(sim, rig_cfg, seed, size, first_person=True)
            gen_time += time.perf_counter() - t
            gen_views += ep.num_samples * (rig_cfg.num_views + 1)
            t = time.perf_counter()
            bare_views += bare_loop(sim, rig_cfg, seed, size)
            bare_time += time.perf_counter() - t
        sim.close()
        rates = []
        for workers in (1, 2):
            with tempfile.TemporaryDirectory() as tmp:
                s = generate_dataset(env, os.path.join(tmp, "x.hdf5"), episodes=2 * args.episodes,
                                     image_size=size, num_workers=workers, progress=False)
                rates.append(s["episodes"] / s["seconds"])
        g, b = gen_views / gen_time, bare_views / bare_time
        print(f"| {env} | {rig_cfg.num_views}+1 | {g:.1f} | {b:.1f} | {g / b:.2f} | {rates[0]:.3f} | {rates[1]:.3f} |")


if __name__ == "__main__":
    main()
