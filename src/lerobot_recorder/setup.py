from setuptools import find_packages, setup

PACKAGE = "lerobot_recorder"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
    ],
    install_requires=["setuptools"],
    zip_safe=False,
    maintainer="LeRobot ROS maintainers",
    maintainer_email="maintainers@lerobot-ros.org",
    description="Records episodes to rosbag2 and converts bags into LeRobot v3.0 datasets.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "record = lerobot_recorder.ros.record_node:main",
            "convert = lerobot_recorder.convert_cli:main",
            "lerobot-ros-record = lerobot_recorder.ros.record_node:main",
            "lerobot-ros-convert = lerobot_recorder.convert_cli:main",
        ],
    },
)
