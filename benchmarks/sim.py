"""Real-time factor of the simulated arm on this machine: physics alone, rendering alone, and both together at
a camera rate (default 30 Hz, two 480×640 cameras), with the scripted expert moving the arm and the cube.

    python benchmarks/sim.py [--seconds 6] [--rate 30] [--width 640] [--height 480]

Prints figures measured in one run; asserts nothing. A real-time factor below 1 means the sim node, in
wall-clock mode, drops camera frames to keep the physics in real time (or runs slower on simulated time).
"""

import argparse
import os
import time

from lerobot_drivers.sim.expert import ScriptedExpert
from lerobot_drivers.sim.render import CameraRenderer
from lerobot_drivers.sim.scene import SimArm, SimConfig

CAMERAS = ("front", "wrist")


def run(
    sim: SimArm, expert: ScriptedExpert, seconds: float, rate: float, renderer: CameraRenderer | None
) -> dict:
    """Drive the arm for ``seconds`` of simulated time at ``rate`` Hz; returns wall times per part."""
    sim.reset(seed=0)
    expert.reset()
    physics = render = 0.0
    start = sim.time
    while sim.time - start < seconds:
        if expert.finished:  # keep the arm busy for the whole run
            sim.reset()
            expert.reset()
        cube, quat = sim.cube_pose()
        t0 = time.perf_counter()
        sim.set_command(expert.act(sim.joint_positions(), cube, quat, sim.target_position()))
        sim.advance(1.0 / rate)
        t1 = time.perf_counter()
        if renderer is not None:
            renderer.render_all(sim.data)
        physics += t1 - t0
        render += time.perf_counter() - t1
    return {"sim": sim.time - start, "physics": physics, "render": render}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="simulated seconds per measurement")
    parser.add_argument("--rate", type=float, default=30.0, help="camera and control rate, Hz")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    args = parser.parse_args()

    sim = SimArm(SimConfig(seed=0))
    expert = ScriptedExpert(sim.model)
    print(f"MUJOCO_GL={os.environ.get('MUJOCO_GL')}, CPU cores: {os.cpu_count()}, timestep {sim.timestep} s")

    alone = run(sim, expert, args.seconds, args.rate, None)
    step_us = alone["physics"] / (alone["sim"] / sim.timestep) * 1e6
    print(
        f"physics + expert, no rendering: real-time factor {alone['sim'] / alone['physics']:7.1f} "
        f"({step_us:.0f} µs per {sim.timestep * 1e3:.0f} ms step, IK included)"
    )
    for width, height in ((args.width, args.height), (args.width // 2, args.height // 2)):
        with CameraRenderer(sim.model, CAMERAS, width=width, height=height) as renderer:
            renderer.render_all(sim.data)  # first frame compiles shaders and uploads textures
            both = run(sim, expert, args.seconds, args.rate, renderer)
        frames = both["sim"] * args.rate
        wall = both["physics"] + both["render"]
        per_image_ms = both["render"] / frames / len(CAMERAS) * 1e3
        print(
            f"{len(CAMERAS)} cameras {height}×{width} at {args.rate:.0f} Hz: real-time factor "
            f"{both['sim'] / wall:5.2f}; {per_image_ms:.1f} ms per image, at most "
            f"{frames / both['render']:.1f} frames/s per camera; physics {both['physics'] / wall:.0%} of time"
        )


if __name__ == "__main__":
    main()
