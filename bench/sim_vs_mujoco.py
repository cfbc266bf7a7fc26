#!/usr/bin/env python3
"""Simulation speed of our rapier2d biped against MuJoCo 4 on the same robot, one run.

Development benchmark (needs Python; never part of the README commands):

    python3 -m pip install mujoco gymnasium      # gymnasium ships walker2d_v5.xml
    python3 bench/sim_vs_mujoco.py [--repeats 5]

MuJoCo: `mj_step` only (no Python work between steps), Walker2d-v5 as shipped (dt 2 ms),
RK4 (its default) and Euler, 10 000 steps per repeat from the initial state with zero
control. Strider: the criterion bench `sim` (one control tick = 10 physics steps with the
PD loop, standing, and walking with the expert), run by cargo in the same invocation.
Prints physics steps/s (median over repeats for MuJoCo, criterion's estimate for ours)
and the ratio.
"""

import argparse
import os
import re
import statistics
import subprocess
import time

import gymnasium
import mujoco


def mujoco_steps_per_s(integrator: int, repeats: int, steps: int = 10_000) -> float:
    xml = os.path.join(os.path.dirname(gymnasium.__file__), "envs/mujoco/assets/walker2d_v5.xml")
    model = mujoco.MjModel.from_xml_path(xml)
    model.opt.integrator = integrator
    rates = []
    for _ in range(repeats):
        data = mujoco.MjData(model)
        start = time.perf_counter()
        for _ in range(steps):
            mujoco.mj_step(model, data)
        rates.append(steps / (time.perf_counter() - start))
    return statistics.median(rates)


def strider_steps_per_s() -> dict:
    out = subprocess.run(
        ["cargo", "bench", "-p", "strider-sim", "--bench", "sim", "--", "--noplot"],
        check=True, capture_output=True, text=True,
    ).stdout
    rates = {}
    for name, mid, unit in re.findall(r"^(sim tick [^\n]*?)\s*\(10 physics steps\)\s*\n\s*time:\s*\[\S+ \S+ (\S+) (\S+)", out, re.M):
        seconds = float(mid) * {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3}[unit]
        rates[name] = 10 / seconds
    return rates


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    ours = strider_steps_per_s()
    rk4 = mujoco_steps_per_s(mujoco.mjtIntegrator.mjINT_RK4, args.repeats)
    euler = mujoco_steps_per_s(mujoco.mjtIntegrator.mjINT_EULER, args.repeats)
    print(f"{'engine / workload':<52} {'physics steps/s':>16} {'× MuJoCo RK4':>13}")
    print(f"{'MuJoCo ' + mujoco.__version__ + ' Walker2d, RK4, mj_step only':<52} {rk4:>16,.0f} {1.0:>13.2f}")
    print(f"{'MuJoCo ' + mujoco.__version__ + ' Walker2d, Euler, mj_step only':<52} {euler:>16,.0f} {euler / rk4:>13.2f}")
    for name, rate in ours.items():
        print(f"{'strider rapier2d: ' + name.removeprefix('sim tick '):<52} {rate:>16,.0f} {rate / rk4:>13.2f}")


if __name__ == "__main__":
    main()
