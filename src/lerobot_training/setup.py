from setuptools import find_packages, setup

PACKAGE = "lerobot_training"

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
        "Offline training of ACT, Diffusion Policy and pi0 on LeRobot datasets, with lerobot-"
        "compatible checkpoints."
    ),
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "train = lerobot_training.train_cli:main",
            "lerobot-ros-train = lerobot_training.train_cli:main",
            "lerobot-ros-eval = lerobot_training.eval_cli:main",
        ],
    },
)
