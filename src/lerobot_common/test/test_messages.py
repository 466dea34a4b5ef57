import pytest

pytest.importorskip("rclpy")


def test_message_class_resolves_type_names():
    from sensor_msgs.msg import JointState
    from trajectory_msgs.msg import JointTrajectoryPoint

    from lerobot_common.ros.messages import message_class

    assert message_class("sensor_msgs/msg/JointState") is JointState
    assert message_class("trajectory_msgs/msg/JointTrajectoryPoint") is JointTrajectoryPoint


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("sensor_msgs/JointState", "not a ROS message type name"),
        ("sensor_msgs/srv/JointState", "not a ROS message type name"),
        ("no_such_msgs/msg/Thing", "not installed"),
        ("sensor_msgs/msg/NoSuchThing", "has no message 'NoSuchThing'"),
    ],
)
def test_message_class_says_what_is_wrong(name, says):
    from lerobot_common.ros.messages import message_class

    with pytest.raises(ValueError, match=says):
        message_class(name)
