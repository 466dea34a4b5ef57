from setuptools import find_packages, setup

PACKAGE = "lerobot_bringup"

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
    description="Node graph of the LeRobot ROS 2 suite, one-process runner, URDF kinematics, chunk markers.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "bringup = lerobot_bringup.ros.run:main",
            "chunk_markers = lerobot_bringup.ros.chunk_markers:main",
            "lerobot-ros-bringup = lerobot_bringup.ros.run:main",
            "sim_eval = lerobot_bringup.ros.sim_eval:main",
        ],
    },
)
