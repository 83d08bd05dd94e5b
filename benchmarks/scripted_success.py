"""Success rate of each env's scripted policy over seeded episodes (no rendering).

python benchmarks/scripted_success.py --episodes 20
Seeds are those envs.generate uses for episodes 0..N-1 with seed=0.
"""
import argparse

from envs.recorder import episode_seed
from envs.registry import make_simulator


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--envs", nargs="+", default=["pick", "lift", "can", "minecraft"])
    p.add_argument("--episodes", type=int, default=20)
    args = p.parse_args()
    print("| env | successes | rate | mean steps to success |")
    print("| --- | --- | --- | --- |")
    for env in args.envs:
        sim = make_simulator(env)
        wins, steps = 0, []
        for i in range(args.episodes):
            sim.reset(episode_seed(0, i))
            for step in range(sim.max_steps):
                sim.step(sim.scripted_action())
                if sim.success():
                    wins += 1
                    steps.append(step + 1)
                    break
        sim.close()
        mean = sum(steps) / len(steps) if steps else float("nan")
        print(f"| {env} | {wins}/{args.episodes} | {wins / args.episodes:.0%} | {mean:.0f} |")


if __name__ == "__main__":
    main()
