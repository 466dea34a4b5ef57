from setuptools import find_packages, setup

PACKAGE = "lerobot_policy_node"

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
    description=(
        "Runs a trained policy on live ROS 2 observations and streams action chunks to ros2_control"
        " controllers."
    ),
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "policy = lerobot_policy_node.ros.policy_node:main",
            "lerobot-ros-policy = lerobot_policy_node.ros.policy_node:main",
            "lerobot-ros-serve = lerobot_policy_node.serve_cli:main",
        ],
    },
)
