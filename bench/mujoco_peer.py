#!/usr/bin/env python3
"""MuJoCo peer for `dexstudio bench sim --peer`: physics steps/s of an MJCF scene.

Loads the same MJCF file dexsim loads, with the same timestep (from the file)
and the same control pattern: uniform random position targets within each
actuator's ctrlrange, changed every `frame_skip` physics steps (one control
step). Runs on one thread. Prints one JSON object.

Usage: python3 bench/mujoco_peer.py SCENE.xml --frame-skip 10 --seconds 3
Skips (exit code 0, {"skipped": "..."}) when the mujoco package is missing.
"""
import argparse
import json
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("scene")
    ap.add_argument("--frame-skip", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    try:
        import mujoco
        import numpy as np
    except ImportError as e:
        print(json.dumps({"skipped": f"mujoco is not installed ({e}); run `pip install mujoco` to compare"}))
        return 0
    m = mujoco.MjModel.from_xml_path(args.scene)
    d = mujoco.MjData(m)
    rng = np.random.default_rng(args.seed)
    lo, hi = m.actuator_ctrlrange[:, 0], m.actuator_ctrlrange[:, 1]

    def run(seconds):
        steps, contacts = 0, 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            d.ctrl[:] = rng.uniform(lo, hi)
            for _ in range(args.frame_skip):
                mujoco.mj_step(m, d)
                contacts += d.ncon
            steps += args.frame_skip
        return steps, contacts, time.perf_counter() - t0

    run(0.3)  # warm-up
    steps, contacts, dt = run(args.seconds)
    print(json.dumps({
        "engine": f"mujoco {mujoco.__version__}",
        "scene": args.scene,
        "timestep": float(m.opt.timestep),
        "nv": int(m.nv),
        "nu": int(m.nu),
        "frame_skip": args.frame_skip,
        "physics_steps_per_sec": steps / dt,
        "env_steps_per_sec": steps / dt / args.frame_skip,
        "mean_contacts": contacts / max(steps, 1),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
