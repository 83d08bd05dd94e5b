"""Demo generation speed against the renderer's limit, render quality, and worker scaling.

python benchmarks/generation_speed.py [--envs lift can] [--sizes 64 128] [--demos 20] [--out FILE.json]
python benchmarks/generation_speed.py --table      # the saved rows as a Markdown table

Per env and image size, all in this process unless said:
- limit: a bare loop that only steps the scripted policy and renders the same views of the same
  states (RGB + the segmentation pass for the robot mask) at the fastest setting, ``render=fast``;
  with its mean render time per view and ``env.step`` time per frame, the limit is
  ``1 / (render per view + step time / views)`` views/s;
- generator: ``record_episode`` (policy, renders, keypoints, low-dim obs, state) views/s with
  ``render=fast``, and its ratio to the limit;
- quality: demos/s of ``record_episode`` with ``render=full`` (robosuite's defaults, what the
  generator rendered before the setting existed) against ``render=fast``, alternating episodes;
- workers: ``generate_dataset`` of ``--demos`` demos with 1 and 2 worker processes (each keeps its
  simulator; process start-up included), demos/s.

Every part renders the rig it was first measured with, Lift's and Can's ring of 4 cameras over
-75..75 degrees plus the first-person view (``RING``), so rows stay comparable across the rig change.

Rows land in ``--out`` as they finish, and a rerun skips finished rows, so a long grid can span sessions.
"""
import argparse
import json
import os
import tempfile
import time

import numpy as np

from envs.cameras import make_rig
from envs.generate import generate_dataset
from envs.recorder import episode_seed, record_episode, rig_for, views_now
from envs.registry import make_simulator, simulator_options


def bare_loop(sim, rig_cfg, seed: int, size: int):
    """(views, per-view render seconds, per-frame step seconds) of policy + renders only."""
    sim.reset(seed)
    rig = make_rig(rig_cfg, size, size, seed)
    sim.set_rig(rig)
    renders, steps = [], []
    for _ in range(sim.max_steps):
        for cam in views_now(sim, rig, True, size):
            t = time.perf_counter()
            sim.render(cam)
            renders.append(time.perf_counter() - t)
        action = sim.scripted_action()
        t = time.perf_counter()
        sim.step(action)
        steps.append(time.perf_counter() - t)
        if sim.success():
            break
    return len(renders), np.asarray(renders), np.asarray(steps)


RING = {"sampling": "ring", "azimuth_range": (-75.0, 75.0), "heldout_views": 0}


def limit_and_generator(env: str, size: int, episodes: int) -> dict:
    sim = make_simulator(env, **simulator_options(env, render="fast"))
    rig_cfg = rig_for(type(sim), **RING)
    views_per_frame = rig_cfg.num_views + 1
    record_episode(sim, rig_cfg, episode_seed(0, 99), size)  # warm-up: contexts, caches
    gen_views = gen_time = 0.0
    renders, steps = [], []
    for i in range(episodes):  # alternate so load drifts affect both alike
        seed = episode_seed(0, i)
        t = time.perf_counter()
        ep = record_episode(sim, rig_cfg, seed, size)
        gen_time += time.perf_counter() - t
        gen_views += ep.num_samples * views_per_frame
        _, r, s = bare_loop(sim, rig_cfg, seed, size)
        renders.append(r)
        steps.append(s)
    sim.close()
    renders, steps = np.concatenate(renders), np.concatenate(steps)
    limit = 1.0 / (float(renders.mean()) + float(steps.mean()) / views_per_frame)
    generator = gen_views / gen_time
    return {"views_per_frame": views_per_frame, "render_ms_per_view": float(renders.mean()) * 1e3,
            "step_ms_per_frame": float(steps.mean()) * 1e3,
            "limit_views_per_s": limit, "generator_views_per_s": generator, "ratio_to_limit": generator / limit}


def quality(env: str, size: int, episodes: int) -> dict:
    sims = {q: make_simulator(env, **simulator_options(env, render=q)) for q in ("full", "fast")}
    rig_cfg = rig_for(type(sims["fast"]), **RING)
    seconds = {q: 0.0 for q in sims}
    for q, sim in sims.items():
        record_episode(sim, rig_cfg, episode_seed(0, 99), size)
    for i in range(episodes):
        for q, sim in sims.items():
            t = time.perf_counter()
            record_episode(sim, rig_cfg, episode_seed(0, i), size)
            seconds[q] += time.perf_counter() - t
    for sim in sims.values():
        sim.close()
    rates = {q: episodes / s for q, s in seconds.items()}
    return {"full_demos_per_s": rates["full"], "fast_demos_per_s": rates["fast"],
            "fast_over_full": rates["fast"] / rates["full"]}


def workers(env: str, size: int, demos: int) -> dict:
    rates = {}
    for n in (1, 2):
        with tempfile.TemporaryDirectory() as tmp:
            s = generate_dataset(env, os.path.join(tmp, "x.hdf5"), episodes=demos, image_size=size,
                                 num_workers=n, rig_overrides=dict(RING), progress=False)
            rates[n] = s["episodes"] / s["seconds"]
    return {"1_worker_demos_per_s": rates[1], "2_workers_demos_per_s": rates[2], "scaling": rates[2] / rates[1]}


PARTS = {"limit": limit_and_generator, "quality": quality, "workers": workers}


def markdown(results: dict) -> str:
    """The saved rows as one table per env and image size (a dash where a part has not run)."""
    rows = ["| env | px | render ms/view | step ms/frame | limit views/s | generator views/s | ratio to limit "
            "| full demos/s | fast demos/s | fast / full | 1 worker demos/s | 2 workers demos/s | 1 -> 2 |",
            "| --- " * 13 + "|"]
    keys = sorted({tuple(k.split("/")[1:]) for k in results}, key=lambda k: (k[0], int(k[1])))
    for env, size in keys:
        get = lambda part, field, fmt: (fmt.format(results[f"{part}/{env}/{size}"][field])
                                        if f"{part}/{env}/{size}" in results else "-")
        rows.append("| " + " | ".join([
            env, size, get("limit", "render_ms_per_view", "{:.1f}"), get("limit", "step_ms_per_frame", "{:.1f}"),
            get("limit", "limit_views_per_s", "{:.1f}"), get("limit", "generator_views_per_s", "{:.1f}"),
            get("limit", "ratio_to_limit", "{:.2f}"), get("quality", "full_demos_per_s", "{:.3f}"),
            get("quality", "fast_demos_per_s", "{:.3f}"), get("quality", "fast_over_full", "{:.2f}x"),
            get("workers", "1_worker_demos_per_s", "{:.3f}"), get("workers", "2_workers_demos_per_s", "{:.3f}"),
            get("workers", "scaling", "{:.2f}x")]) + " |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--envs", nargs="+", default=["lift", "can"])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--episodes", type=int, default=2, help="episodes for the limit and quality parts")
    parser.add_argument("--demos", type=int, default=20, help="demos for the worker scaling part")
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=list(PARTS))
    parser.add_argument("--out", default="benchmarks/generation_speed.json")
    parser.add_argument("--table", action="store_true", help="only print the saved rows as a Markdown table")
    args = parser.parse_args()
    results = json.load(open(args.out)) if os.path.exists(args.out) else {}
    if args.table:
        print(markdown(results))
        return
    print(f"{os.cpu_count()} cpus; results in {args.out}")
    for part in args.parts:
        for env in args.envs:
            for size in args.sizes:
                key = f"{part}/{env}/{size}"
                if key in results:
                    print(f"{key}: done before, skipped")
                    continue
                count = args.demos if part == "workers" else args.episodes
                results[key] = {"count": count, "date": time.strftime("%Y-%m-%d"), **PARTS[part](env, size, count)}
                tmp = f"{args.out}.tmp"
                with open(tmp, "w") as f:
                    json.dump(results, f, indent=2)
                os.replace(tmp, args.out)
                print(key, json.dumps(results[key]), flush=True)


if __name__ == "__main__":
    main()
