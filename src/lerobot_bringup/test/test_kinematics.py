"""config/urdf/so101.urdf against the sim's MJCF: FK of every link agrees with MuJoCo for random joints."""

from pathlib import Path

import numpy as np
import pytest

from lerobot_bringup.kinematics import UrdfModel, rpy_matrix

# Imported before mujoco: it picks MuJoCo's headless GL backend, which MuJoCo fixes when first imported (the
# sim nodes of later tests in this process render).
pytest.importorskip("lerobot_drivers.sim")
mujoco = pytest.importorskip("mujoco")

CONFIG = Path(__file__).resolve().parents[3] / "config"
URDF = CONFIG / "urdf" / "so101.urdf"
MJCF = CONFIG / "sim" / "so101_cube.xml"
JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]
# URDF link → MJCF body (the base link is the MJCF `base` body, at the world origin).
BODIES = {
    "base_link": "base",
    "shoulder_link": "shoulder",
    "upper_arm_link": "upper_arm",
    "forearm_link": "forearm",
    "wrist_link": "wrist",
    "gripper_link": "gripper",
    "gripper_drive_link": "gripper_drive",
    "left_finger_link": "left_finger",
    "right_finger_link": "right_finger",
}
# MuJoCo cameras look along -z with y up; ROS optical frames along +z with y down.
MUJOCO_TO_OPTICAL = np.diag([1.0, -1.0, -1.0])


@pytest.fixture(scope="module")
def urdf() -> UrdfModel:
    return UrdfModel.from_file(URDF)


@pytest.fixture(scope="module")
def sim():
    model = mujoco.MjModel.from_xml_path(str(MJCF))
    return model, mujoco.MjData(model)


def test_joint_names_and_limits_match_the_sim(urdf, sim):
    model, _ = sim
    assert urdf.actuated_joints == JOINTS
    assert urdf.root == "base_link"
    for name in [*JOINTS, "left_finger", "right_finger"]:
        joint = urdf.joints[name]
        np.testing.assert_allclose([joint.lower, joint.upper], model.joint(name).range, atol=1e-9)
        np.testing.assert_allclose(joint.axis, model.joint(name).axis, atol=1e-12)


def test_forward_kinematics_matches_mujoco_for_every_link(urdf, sim):
    model, data = sim
    rng = np.random.default_rng(0)
    limits = np.array([model.joint(name).range for name in JOINTS])
    fingers = [model.joint(name).qposadr[0] for name in ("left_finger", "right_finger")]
    for _ in range(50):
        q = rng.uniform(limits[:, 0], limits[:, 1])
        data.qpos[:] = model.qpos0
        for name, value in zip(JOINTS, q, strict=True):
            data.qpos[model.joint(name).qposadr[0]] = value
        # Kinematics ignores equality constraints: set the fingers as the MJCF couples them.
        data.qpos[fingers] = 0.0034907 + 0.02 * q[JOINTS.index("gripper")]
        mujoco.mj_fwdPosition(model, data)  # kinematics, then cameras (mj_camlight)
        poses = urdf.link_poses(dict(zip(JOINTS, q, strict=True)))
        for link, body in BODIES.items():
            np.testing.assert_allclose(poses[link][:3, 3], data.body(body).xpos, atol=1e-6, err_msg=link)
            rotation = data.body(body).xmat.reshape(3, 3)
            np.testing.assert_allclose(poses[link][:3, :3], rotation, atol=1e-6, err_msg=link)
        np.testing.assert_allclose(poses["gripper_tip"][:3, 3], data.site("grasp").xpos, atol=1e-6)
        for camera in ("front", "wrist"):
            pose = poses[f"{camera}_color_optical_frame"]
            np.testing.assert_allclose(pose[:3, 3], data.cam(camera).xpos, atol=1e-6, err_msg=camera)
            expected = data.cam(camera).xmat.reshape(3, 3) @ MUJOCO_TO_OPTICAL
            np.testing.assert_allclose(pose[:3, :3], expected, atol=1e-6, err_msg=camera)


def test_positions_of_a_trajectory(urdf):
    trajectory = np.zeros((3, len(JOINTS)))
    trajectory[1, 0] = np.pi / 2  # pan a quarter turn: the tip swings from +x to +y
    tips = urdf.positions(JOINTS, trajectory, "gripper_tip")
    assert tips.shape == (3, 3)
    reach = 0.028 + 0.1349 + 0.061 + 0.08
    np.testing.assert_allclose(tips[0], [reach, 0.0, 0.0624 + 0.054 + 0.1126], atol=1e-9)
    np.testing.assert_allclose(tips[1], [0.0, reach, 0.0624 + 0.054 + 0.1126], atol=1e-9)
    with pytest.raises(ValueError, match="no link named"):
        urdf.positions(JOINTS, trajectory, "tool0")
    with pytest.raises(ValueError, match="values per step"):
        urdf.positions(JOINTS[:2], trajectory, "gripper_tip")


def test_rpy_is_fixed_axis_xyz():
    np.testing.assert_allclose(rpy_matrix(0.0, 0.0, np.pi / 2) @ [1, 0, 0], [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(rpy_matrix(np.pi / 2, 0.0, 0.0) @ [0, 1, 0], [0, 0, 1], atol=1e-12)


def test_bad_urdf_is_a_clear_error():
    with pytest.raises(ValueError, match="root element"):
        UrdfModel("<mujoco/>")
    with pytest.raises(ValueError, match="one root link"):
        UrdfModel('<robot name="r"><link name="a"/><link name="b"/></robot>')
