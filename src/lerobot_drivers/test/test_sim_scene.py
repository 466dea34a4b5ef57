"""The simulated arm without ROS: model facts, commands, seeded layouts, success criteria, rendering."""

import math

import numpy as np
import pytest
import yaml

from lerobot_common import config_files
from lerobot_common.robot_description import load_robot_description
from lerobot_drivers.sim import gl
from lerobot_drivers.sim.render import CameraRenderer
from lerobot_drivers.sim.scene import (
    JOINT_NAMES,
    OBJECT_STATE_NAMES,
    Layout,
    SimArm,
    SimConfig,
    cube_grasp_yaw,
)

# The SO-101's joint limits (public so101_new_calib URDF), radians.
SO101_LIMITS = {
    "shoulder_pan": (-1.91986, 1.91986),
    "shoulder_lift": (-1.74533, 1.74533),
    "elbow_flex": (-1.69, 1.69),
    "wrist_flex": (-1.65806, 1.65806),
    "wrist_roll": (-2.74385, 2.84121),
    "gripper": (-0.174533, 1.74533),
}


@pytest.fixture(scope="module")
def sim() -> SimArm:
    return SimArm(SimConfig(seed=5))


def test_model_has_the_so101_joints_limits_and_cameras(sim):
    assert sim.joint_names == JOINT_NAMES
    np.testing.assert_allclose(sim.joint_limits(), [SO101_LIMITS[n] for n in JOINT_NAMES], atol=1e-6)
    follower = load_robot_description("so101_follower")  # the real arm's description agrees
    for joint in follower.joints:
        if joint.limits is not None:
            np.testing.assert_allclose(joint.limits, SO101_LIMITS[joint.name], atol=1e-6)
    cameras = {sim.model.camera(i).name for i in range(sim.model.ncam)}
    assert {"front", "wrist"} <= cameras


def test_position_commands_are_followed(sim):
    sim.reset()
    goal = np.array([0.4, -0.3, 0.5, 1.0, -0.6, 0.3])
    sim.set_command(goal)
    sim.advance(1.5)
    np.testing.assert_allclose(sim.joint_positions(), goal, atol=0.02)
    # A non-finite value refuses the whole command: moving the other joints would make a new pose.
    with pytest.raises(ValueError, match="shoulder_pan=nan, shoulder_lift=inf"):
        sim.set_command([math.nan, math.inf, 0.0, 0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="wrist_roll=nan"):
        sim.set_command_by_name(["gripper", "wrist_roll"], [1.2, math.nan])
    np.testing.assert_allclose(sim.command, goal)
    assert sim.set_command_by_name(["gripper", "tail"], [1.2, 0.0]) == ["tail"]
    np.testing.assert_allclose(sim.command, [*goal[:5], 1.2])  # the other joints keep their setpoints
    with pytest.raises(ValueError, match="expected 6 positions"):
        sim.set_command([0.0] * 5)
    # Out-of-range setpoints are clamped to the joint limits.
    sim.set_command([5.0, 0, 0, 0, 0, 0])
    assert sim.command[0] == pytest.approx(SO101_LIMITS["shoulder_pan"][1])


def test_seeded_layouts_are_deterministic_and_inside_the_workspace():
    first, again, other = SimArm(SimConfig(seed=3)), SimArm(SimConfig(seed=3)), SimArm(SimConfig(seed=4))
    series = [first.layout] + [first.reset() for _ in range(30)]
    assert series == [again.layout] + [again.reset() for _ in range(30)]
    assert other.layout != first.layout
    assert first.reset(seed=3) == series[0]  # an explicit seed restarts the series
    ranges = first.config.layout
    for layout in series:
        for x, y in (layout.cube_xy, layout.target_xy):
            assert ranges.radius[0] <= math.hypot(x, y) <= ranges.radius[1]
            assert ranges.azimuth[0] <= math.atan2(y, x) <= ranges.azimuth[1]
        assert math.dist(layout.cube_xy, layout.target_xy) >= ranges.min_separation


def test_reset_homes_the_arm_and_randomize_moves_only_the_cube(sim):
    sim.reset()
    home = sim.joint_positions()
    sim.set_command([0.5, 0.0, 0.3, 0.8, 0.0, 1.0])
    sim.advance(1.0)
    moved, before = sim.joint_positions(), sim.time
    layout = sim.randomize_cube()
    np.testing.assert_allclose(sim.joint_positions(), moved)
    np.testing.assert_allclose(sim.cube_pose()[0][:2], layout.cube_xy)
    np.testing.assert_allclose(sim.target_position()[:2], layout.target_xy)
    sim.reset()
    np.testing.assert_allclose(sim.joint_positions(), home)
    assert sim.time >= before  # time never runs backwards: stamps and /clock stay monotonic


def test_success_means_placed_on_the_target_or_lifted():
    place = SimArm(SimConfig(seed=1))
    layout = place.layout
    place.advance(0.2)
    assert not place.success()
    place.reset_to(Layout(cube_xy=layout.target_xy, cube_yaw=0.3, target_xy=layout.target_xy))
    place.advance(0.2)
    assert place.cube_placed() and place.success()

    lift = SimArm(SimConfig(seed=1, task="lift"))
    lift.data.qpos[lift.model.joint("cube").qposadr[0] + 2] = 0.2  # in the air, falling
    assert lift.cube_lifted() and lift.success()
    with pytest.raises(ValueError, match="unknown task"):
        SimConfig(task="stack")


def test_cameras_render_rgb8_with_pinhole_intrinsics(sim):
    sim.reset()
    with CameraRenderer(sim.model, ["front", "wrist"], width=128, height=96) as renderer:
        images = renderer.render_all(sim.data)
        intrinsics = renderer.intrinsics("front")
    for image in images.values():
        assert image.shape == (96, 128, 3) and image.dtype == np.uint8
        assert image.std() > 10  # a scene, not a blank buffer
    assert not np.array_equal(images["front"], images["wrist"])
    fovy = math.radians(float(sim.model.camera("front").fovy[0]))
    assert intrinsics.fy == pytest.approx(48 / math.tan(fovy / 2))
    assert (intrinsics.cx, intrinsics.cy) == (64.0, 48.0)
    with pytest.raises(ValueError, match="not in the scene"):
        CameraRenderer(sim.model, ["side"])


def test_gl_backend_choice_respects_the_user_and_advises_what_to_install(monkeypatch):
    monkeypatch.setenv("MUJOCO_GL", "glfw")
    assert gl.ensure_gl_backend() == "glfw"
    monkeypatch.setenv("MUJOCO_GL", "osmesa")
    monkeypatch.setattr(gl, "_loadable", lambda names: False)
    with pytest.raises(gl.RenderBackendError, match="apt-get install libosmesa6"):
        gl.ensure_gl_backend()
    monkeypatch.setenv("MUJOCO_GL", "egl")
    monkeypatch.setattr(gl, "probe_gl_backend", lambda name, timeout=60.0: "cannot open display")
    advice = gl.render_failure_advice(RuntimeError("no EGL device"))
    assert "MUJOCO_GL=egl" in advice and "apt-get install libosmesa6" in advice
    monkeypatch.setattr(gl, "probe_gl_backend", lambda name, timeout=60.0: None)
    assert "MUJOCO_GL=osmesa works" in gl.render_failure_advice(RuntimeError("no EGL device"))


def test_object_state_is_relative_to_the_gripper_and_named_by_the_sim_mappings():
    sim = SimArm(SimConfig(seed=3))
    state = sim.object_state()
    assert state.shape == (len(OBJECT_STATE_NAMES),)
    cube, quat = sim.cube_pose()
    np.testing.assert_allclose(state[:3], cube - sim.grasp_position())
    assert state[3] == pytest.approx(cube_grasp_yaw(cube, quat)) and abs(state[3]) <= math.pi / 4
    np.testing.assert_allclose(state[4:], sim.target_position() - sim.grasp_position())
    for name in ("so101_sim", "so101_sim_teleop"):  # the mappings name the entries in the sim's order
        mapping = yaml.safe_load(config_files.find_config(f"mappings/{name}.yaml").read_text())
        feature = mapping["features"]["observation.environment_state"]
        assert (feature["topic"], tuple(feature["joints"])) == ("/sim/object_state", OBJECT_STATE_NAMES)
        assert feature["type"] == "sensor_msgs/msg/JointState"  # stamped: see the sim node
