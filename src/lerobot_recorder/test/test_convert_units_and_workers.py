"""Conversion into dataset units (degrees, lerobot's), and in worker processes: the same dataset as in one."""

import json
import math
import textwrap
from pathlib import Path

import numpy as np
import pytest

from lerobot_common.units import JointUnits, NormMode
from lerobot_dataset import DatasetReader
from lerobot_dataset.mapping import parse_mapping
from lerobot_dataset.validate import has_errors, validate_dataset
from lerobot_recorder.convert import CONVERTED_FILE, convert_bags

JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]
GRIPPER = {"id": 6, "drive_mode": 0, "homing_offset": 0, "range_min": 2024, "range_max": 3446}


def read_all(root: Path) -> list[list[dict]]:
    with DatasetReader(root) as reader:
        return [list(reader.iter_frames([e])) for e in range(reader.num_episodes)]


def assert_valid(root: Path) -> None:
    problems = validate_dataset(root)
    assert not has_errors(problems), [str(p) for p in problems]


def test_joint_values_are_written_in_the_units_the_mapping_asks_for(make_bag, tmp_path):
    bag = make_bag(tmp_path / "bags" / "episode_000000")
    calibration = tmp_path / "arm.json"
    body = {"id": 1, "drive_mode": 0, "homing_offset": 0, "range_min": 0, "range_max": 4095}
    calibration.write_text(json.dumps({**{j: body for j in JOINTS[:5]}, "gripper": GRIPPER}))
    mapping = parse_mapping(
        textwrap.dedent(
            f"""
            name: fake_robot
            robot_type: so101
            fps: 30
            features:
              observation.state:
                {{topic: /joint_states, type: sensor_msgs/msg/JointState, joints: {JOINTS},
                  units: lerobot, robot: so101_follower, calibration: {calibration}}}
              action:
                {{topic: /arm/commands, type: std_msgs/msg/Float64MultiArray, joints: {JOINTS},
                  units: degrees}}
              observation.images.front: {{topic: /front/image_raw, type: sensor_msgs/msg/Image}}
            """
        )
    )
    plain = convert_bags([bag], tmp_path / "radians", progress=False)  # the bag's own mapping: radians
    converted = convert_bags([bag], tmp_path / "units", mapping=mapping, progress=False)
    assert not plain.skipped and not converted.skipped
    assert_valid(tmp_path / "units")
    [radians], [units] = read_all(tmp_path / "radians"), read_all(tmp_path / "units")
    pan = JointUnits(0, 4095, NormMode.DEGREES, 4096)  # sts3215, middle 2047.5
    gripper = JointUnits(2024, 3446, NormMode.RANGE_0_100, 4096)
    for k, (was, now) in enumerate(zip(radians, units, strict=True)):
        assert now["action"][0] == pytest.approx(math.degrees(k), rel=1e-6)  # the bag's command k, in degrees
        state = was["observation.state"].astype(np.float64)
        assert now["observation.state"][0] == pytest.approx(pan.radians_to_lerobot(state[0]), rel=1e-6)
        assert now["observation.state"][5] == pytest.approx(gripper.radians_to_lerobot(0.0))  # mid-range: 50
        assert now["observation.state"][5] == pytest.approx(50.0)
        assert now["observation.images.front"].shape == (48, 64, 3)
    assert "units: degrees" in (tmp_path / "units" / "meta" / "lerobot_ros" / "mapping.yaml").read_text()


def test_workers_give_the_dataset_one_process_gives_and_skip_a_corrupt_bag(make_bag, tmp_path):
    bags = tmp_path / "bags"
    make_bag(bags / "episode_000000", seconds=1.0)
    broken = make_bag(bags / "episode_000001", seconds=1.0)
    (broken / "metadata.yaml").write_text("rosbag2_bagfile_information: [unclosed\n")
    make_bag(bags / "episode_000002", seconds=1.5, storage="sqlite3")
    make_bag(bags / "episode_000003", seconds=2.0, camera_start=0.2)

    sequential = convert_bags([bags], tmp_path / "sequential", progress=False, workers=1)
    parallel = convert_bags([bags], tmp_path / "parallel", progress=False, workers=3)

    for result in (sequential, parallel):
        assert [bag for bag, _ in result.skipped] == [broken]
        assert [r.episode_index for r in result.reports] == [0, 1, 2]
    assert [r.bag for r in parallel.reports] == [r.bag for r in sequential.reports]
    assert [r.frames for r in parallel.reports] == [r.frames for r in sequential.reports]
    assert_valid(tmp_path / "parallel")
    one, many = read_all(tmp_path / "sequential"), read_all(tmp_path / "parallel")
    assert [len(e) for e in many] == [len(e) for e in one] == [r.frames for r in sequential.reports]
    for episode_one, episode_many in zip(one, many, strict=True):
        for a, b in zip(episode_one, episode_many, strict=True):
            assert a.keys() == b.keys()
            for key in a:  # video frames compared after decoding
                np.testing.assert_array_equal(np.asarray(a[key]), np.asarray(b[key]), err_msg=key)
    for path in ("meta/stats.json", "meta/info.json"):
        assert json.loads((tmp_path / "parallel" / path).read_text()) == json.loads(
            (tmp_path / "sequential" / path).read_text()
        )
    registry = json.loads((tmp_path / "parallel" / CONVERTED_FILE).read_text())
    assert sorted(e["episode_index"] for e in registry.values()) == [0, 1, 2]
    assert not list(tmp_path.glob(".parallel.converting-*"))  # the workers' scratch datasets are gone

    added = make_bag(bags / "episode_000004", seconds=1.0)  # a rerun appends new bags, in the dataset's codec
    again = convert_bags([bags], tmp_path / "parallel", progress=False, workers=3)
    assert len(again.already) == 3 and [bag for bag, _ in again.skipped] == [broken]
    assert [(r.bag, r.episode_index) for r in again.reports] == [(added, 3)]
    assert_valid(tmp_path / "parallel")
