"""`ros2 launch lerobot record.launch.py robot:=so101 [leader/arm.port:=/dev/ttyACM1 arm.id:=my_arm ...]`

Teleoperated data collection: the leader arm (arm node in namespace `leader`, torque off) drives the follower
through the teleop node, with the cameras and the episode recorder (control it with its ~/start_episode,
~/stop_episode, ~/discard_episode services). It is bringup.launch.py with other defaults (record:=true,
teleop:=true, from lerobot_bringup.graph's table); every argument of bringup.launch.py works here too.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution, ThisLaunchFileDir

from lerobot_bringup.graph import launch_arguments

PRESET = "record"


def generate_launch_description():
    arguments = launch_arguments(PRESET)
    return LaunchDescription(
        [
            *(
                DeclareLaunchArgument(
                    a.name, default_value=a.default, description=a.description, choices=a.choices
                )
                for a in arguments
            ),
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(
                    PathJoinSubstitution([ThisLaunchFileDir(), "bringup.launch.py"])
                ),
                launch_arguments={a.name: LaunchConfiguration(a.name) for a in arguments}.items(),
            ),
        ]
    )
