"""The workspace is a real colcon workspace: valid manifests, built packages, runnable entry points."""

import configparser
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGES = sorted(p.parent.name for p in SRC.glob("*/package.xml"))


def console_scripts(package: str) -> dict[str, str]:
    """name → "module:function" from the package's setup.py (the one place they are declared)."""
    text = (SRC / package / "setup.py").read_text()
    return dict(re.findall(r'"([\w-]+) = ([\w.]+:\w+)"', text))


def test_every_package_of_the_design_is_here():
    assert (
        sorted(
            [
                "lerobot",
                "lerobot_bringup",
                "lerobot_common",
                "lerobot_dataset",
                "lerobot_drivers",
                "lerobot_msgs",
                "lerobot_policy_node",
                "lerobot_recorder",
                "lerobot_training",
            ]
        )
        == PACKAGES
    )


@pytest.mark.parametrize("package", PACKAGES)
def test_manifest_is_valid_format_3(package):
    catkin_pkg = pytest.importorskip("catkin_pkg.package")
    manifest = catkin_pkg.parse_package(SRC / package / "package.xml")
    manifest.validate()
    assert manifest.name == package
    assert manifest.package_format == 3
    build_type = manifest.get_build_type()
    if build_type == "ament_python":
        assert (SRC / package / "resource" / package).is_file(), "ament index marker missing"
        cfg = configparser.ConfigParser()
        cfg.read(SRC / package / "setup.cfg")
        assert cfg["install"]["install_scripts"] == f"$base/lib/{package}", "ros2 run looks in lib/<package>"
    else:
        assert build_type == "ament_cmake"
        assert (SRC / package / "CMakeLists.txt").is_file()


LIBRARIES = {"lerobot_common"}  # Python packages that other packages import, with no command of their own


@pytest.mark.parametrize("package", [p for p in PACKAGES if (SRC / p / "setup.py").exists()])
def test_entry_points_are_installed_where_ros2_run_finds_them_and_answer_help(package):
    scripts = console_scripts(package)
    assert bool(scripts) != (package in LIBRARIES), f"{package}: console_scripts {sorted(scripts)}"
    for name in scripts:
        executable = ROOT / "install" / package / "lib" / package / name
        assert os.access(executable, os.X_OK), f"{executable} missing: run `make setup` (colcon build)"
        result = subprocess.run(
            [sys.executable, str(executable), "--help"], capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, f"{package} {name} --help failed:\n{result.stderr}"
        assert "usage:" in result.stdout.lower(), f"{package} {name} --help printed no usage"


def test_suite_commands_share_the_prefix_and_are_on_path():
    commands = {
        name
        for package in PACKAGES
        if (SRC / package / "setup.py").exists()
        for name in console_scripts(package)
    }
    user_commands = {c for c in commands if "-" in c}
    assert user_commands, "no lerobot-ros-* command declared"
    assert all(c.startswith("lerobot-ros-") for c in user_commands), user_commands
    for command in sorted(user_commands):
        assert shutil.which(command), (
            f"{command} not on PATH: run `make setup` and `source .venv/bin/activate`"
        )


def test_bringup_package_depends_on_the_node_graph_package():
    catkin_pkg = pytest.importorskip("catkin_pkg.package")
    manifest = catkin_pkg.parse_package(SRC / "lerobot" / "package.xml")
    assert "lerobot_bringup" in {d.name for d in manifest.exec_depends}, "ros2 launch lerobot needs it"


def test_bringup_package_installs_the_top_level_launch_and_config():
    share = ROOT / "install" / "lerobot" / "share" / "lerobot"
    for folder in ("launch", "config"):
        expected = {p.relative_to(ROOT / folder) for p in (ROOT / folder).rglob("*") if p.is_file()}
        installed = {p.relative_to(share / folder) for p in (share / folder).rglob("*") if p.is_file()}
        assert expected <= installed, f"not installed (run `make setup`): {sorted(expected - installed)}"


def test_lerobot_venv_shares_the_suite_torch_instead_of_a_second_copy():
    library = f"lib/python3.{sys.version_info.minor}/site-packages/torch/lib/libtorch_cpu.so"
    suite, lerobot = ROOT / ".venv" / library, ROOT / ".venv-lerobot" / library
    assert suite.exists() and lerobot.exists(), "run `make setup`"
    assert os.path.samefile(suite, lerobot), (
        "the lerobot venv holds its own 5 GB copy of torch (made before scripts/share_torch.py, or on "
        "another file system): `rm -r .venv-lerobot && make setup` links it instead"
    )


def python310() -> str | None:
    """A Python 3.10 interpreter (Humble's), if this machine has one."""
    candidates = [shutil.which("python3.10"), *sorted(Path.home().glob(".pyenv/versions/3.10.*/bin/python3"))]
    for candidate in filter(None, candidates):
        result = subprocess.run([str(candidate), "--version"], capture_output=True, text=True)
        if result.returncode == 0 and result.stdout.startswith("Python 3.10"):
            return str(candidate)
    return None


def test_sources_parse_as_python_3_10():
    interpreter = python310()
    if interpreter is None:
        pytest.skip("no Python 3.10 interpreter on this machine")
    files = [
        str(p)
        for folder in ("src", "test", "benchmarks", "scripts", "launch")
        for p in (ROOT / folder).rglob("*.py")
    ]
    check = "import sys\nfor f in sys.argv[1:]:\n    compile(open(f, encoding='utf-8').read(), f, 'exec')"
    result = subprocess.run([interpreter, "-c", check, *files], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"not valid Python 3.10 (ROS 2 Humble):\n{result.stderr}"
