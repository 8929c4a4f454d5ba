#!/usr/bin/env python3
"""Print the table of docs/experts.md from the shipped experts.

Runs `dexstudio expert eval --suite all --episodes 50 --json` and
`dexstudio expert critic-report --suite all --json`, reads each
assets/experts/<task>/expert.json and the training session's train.json
(for total steps and wall time), and prints a Markdown table.

Usage: scripts/experts-table.py [--bin target/release/dexstudio]
                                [--session sessions/experts] [--episodes 50]
"""
import argparse
import json
import os
import subprocess
import sys


def run(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", default="target/release/dexstudio")
    p.add_argument("--session", default="sessions/experts")
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--critic-episodes", type=int, default=20)
    a = p.parse_args()
    ev = {r["task"]: r for r in run([a.bin, "expert", "eval", "--suite", "all",
                                     "--episodes", str(a.episodes), "--json"])}
    cr = {r["task"]: r for r in run([a.bin, "expert", "critic-report", "--suite", "all",
                                     "--episodes", str(a.critic_episodes),
                                     "--out", "docs/images/critic-report.svg", "--json"])}
    print("| task | steps trained | selected at | train wall time | validation success | "
          f"success ({a.episodes} eval episodes) | 95% CI | mean return | critic error |")
    print("|---|---|---|---|---|---|---|---|---|")
    for task in ev:
        meta = json.load(open(f"assets/experts/{task}/expert.json"))
        tj = os.path.join(a.session, "experts", task, "train.json")
        total, wall = meta["env_steps"], meta["wall_s"]
        if os.path.exists(tj):
            t = json.load(open(tj))
            total, wall = t["env_steps"], t["wall_s"]
        e, c = ev[task], cr[task]
        print(f"| {task} | {total:,} | {meta['env_steps']:,} | {wall / 60:.1f} min | "
              f"{meta['validation_success']:.1f} | **{e['success_rate']:.2f}** | "
              f"[{e['ci95'][0]:.2f}, {e['ci95'][1]:.2f}] | {e['mean_return']:.1f} | "
              f"{c['error']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
