from setuptools import find_packages, setup

PACKAGE = "lerobot_drivers"

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
    description="Feetech and Dynamixel servo arms, cameras and a simulated arm for the LeRobot ROS 2 suite.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "arm = lerobot_drivers.ros.arm_node:main",
            "camera = lerobot_drivers.ros.camera_node:main",
            "sim = lerobot_drivers.ros.sim_node:main",
            "expert = lerobot_drivers.ros.expert_node:main",
            "teleop = lerobot_drivers.ros.teleop_node:main",
            "calibrate = lerobot_drivers.calibrate_cli:main",
            "discover = lerobot_drivers.discover_cli:main",
            "lerobot-ros-calibrate = lerobot_drivers.calibrate_cli:main",
            "lerobot-ros-discover = lerobot_drivers.discover_cli:main",
        ],
    },
)
