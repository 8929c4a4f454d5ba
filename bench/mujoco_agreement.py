#!/usr/bin/env python3
"""MuJoCo side of `dexstudio bench agree`: fingertip sites after holding
position targets.

Reads JSON on stdin: {"scene": path, "steps": N, "targets": [[...], ...],
"sites": [names]}. For each target vector (one value per actuator, in the
file's actuator order) it resets the model, clamps each joint's initial
position into its range (as dexsim does), sets ctrl, steps N times and records
the world positions of the named sites. Prints JSON {"tips": [[[x,y,z], ...],
...]}. Skips ({"skipped": ...}) when mujoco is not installed.
"""
import json
import sys


def main():
    req = json.load(sys.stdin)
    try:
        import mujoco
        import numpy as np
    except ImportError as e:
        print(json.dumps({"skipped": f"mujoco is not installed ({e}); run `pip install mujoco`"}))
        return 0
    m = mujoco.MjModel.from_xml_path(req["scene"])
    d = mujoco.MjData(m)
    site_ids = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, s) for s in req["sites"]]
    out = []
    for target in req["targets"]:
        mujoco.mj_resetData(m, d)
        for j in range(m.njnt):
            if m.jnt_limited[j] and m.jnt_type[j] in (mujoco.mjtJoint.mjJNT_HINGE, mujoco.mjtJoint.mjJNT_SLIDE):
                adr = m.jnt_qposadr[j]
                d.qpos[adr] = np.clip(0.0, m.jnt_range[j, 0], m.jnt_range[j, 1])
        mujoco.mj_forward(m, d)
        d.ctrl[:] = target
        for _ in range(req["steps"]):
            mujoco.mj_step(m, d)
        out.append([d.site_xpos[i].tolist() for i in site_ids])
    print(json.dumps({"engine": f"mujoco {mujoco.__version__}", "tips": out}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
