from setuptools import find_packages, setup

PACKAGE = "lerobot_dataset"

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
    description="LeRobot v3.0 datasets (Parquet + MP4): writer, reader, stats and validation, without ROS.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "lerobot-ros-dataset = lerobot_dataset.cli:main",
        ],
    },
)
