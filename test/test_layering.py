"""The layering of DESIGN.md: core modules import no ROS, and packages import only the layers below them."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PYTHON_PACKAGES = [
    "lerobot_common",
    "lerobot_dataset",
    "lerobot_drivers",
    "lerobot_recorder",
    "lerobot_training",
    "lerobot_policy_node",
    "lerobot_bringup",
]

# The suite packages each package may import (DESIGN.md: an arrow is "imports", never the other way).
# lerobot_common holds the robot facts every layer shares: each may import it, and it imports none of them.
ALLOWED = {
    "lerobot_common": set(),
    "lerobot_dataset": {"lerobot_common"},
    "lerobot_drivers": {"lerobot_msgs", "lerobot_common"},
    "lerobot_recorder": {"lerobot_msgs", "lerobot_common", "lerobot_dataset"},
    "lerobot_training": {"lerobot_common", "lerobot_dataset"},
    "lerobot_policy_node": {"lerobot_msgs", "lerobot_common", "lerobot_dataset", "lerobot_training"},
    # The bringup sits on top: it wires every other package's nodes together, and nothing imports it.
    "lerobot_bringup": {
        "lerobot_msgs",
        "lerobot_common",
        "lerobot_dataset",
        "lerobot_drivers",
        "lerobot_recorder",
        "lerobot_training",
        "lerobot_policy_node",
    },
}
SUITE = {"lerobot_msgs", *PYTHON_PACKAGES}

# Run in a fresh interpreter: an import hook refuses rclpy and every message package, then every core module
# (everything outside a package's `ros` subpackage) is imported.
CORE_IMPORT_SCRIPT = """
import importlib, importlib.abc, json, sys
from pathlib import Path

class NoRos(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top in ("rclpy", "rosidl_runtime_py", "rosbag2_py") or top.endswith(("_msgs", "_srvs")):
            raise ImportError(f"core module imported ROS package {name!r}")
        return None

sys.meta_path.insert(0, NoRos())
imported = {}
for package in json.loads(sys.argv[1]):
    root = Path(importlib.import_module(package).__file__).parent
    core = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if "ros" in parts or "test" in parts:
            continue
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        importlib.import_module(name)
        core.append(name)
    imported[package] = core
assert not [m for m in sys.modules if m.split(".")[0] == "rclpy"]
print(json.dumps(imported))
"""


def test_core_modules_import_without_ros():
    result = subprocess.run(
        [sys.executable, "-c", CORE_IMPORT_SCRIPT, json.dumps(PYTHON_PACKAGES)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    imported = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(imported) == set(PYTHON_PACKAGES)
    assert all(imported[p] for p in PYTHON_PACKAGES)


def imported_top_level_names(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", PYTHON_PACKAGES)
def test_package_imports_only_the_layers_below(package):
    violations = []
    for path in sorted((SRC / package / package).rglob("*.py")):
        for name in imported_top_level_names(path) & SUITE - {package}:
            if name not in ALLOWED[package]:
                violations.append(f"{path.relative_to(SRC)} imports {name}")
    assert not violations, "layering broken (see DESIGN.md):\n" + "\n".join(violations)


def test_nothing_imports_the_bringup():
    """Only the launch files (outside every package) and the bringup itself may import lerobot_bringup."""
    violations = [
        f"{path.relative_to(SRC)} imports lerobot_bringup"
        for package in PYTHON_PACKAGES
        if package != "lerobot_bringup"
        for path in sorted((SRC / package / package).rglob("*.py"))
        if "lerobot_bringup" in imported_top_level_names(path)
    ]
    assert not violations, "layering broken (see DESIGN.md):\n" + "\n".join(violations)


def module_imports(path: Path, module: str) -> set[str]:
    """The suite modules ``path`` imports anywhere in it (function-level and TYPE_CHECKING imports too)."""
    package = module.rsplit(".", 1)[0] if path.name != "__init__.py" else module
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package level - 1 above this module's own
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return {n for n in names if n.split(".")[0] in SUITE}


def test_no_module_imports_itself_through_others():
    """Import circles make a module's meaning depend on import order: each fact has one home, imported."""
    modules = {}
    for package in PYTHON_PACKAGES:
        for path in sorted((SRC / package / package).rglob("*.py")):
            parts = path.relative_to(SRC / package).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {m: {n for n in module_imports(p, m) if n in modules and n != m} for m, p in modules.items()}
    for module in graph:  # a package's __init__ importing its own modules is not a circle through them
        graph[module] = {n for n in graph[module] if not module.startswith(n + ".")}
    cycles = []

    def visit(module: str, path: list[str]) -> None:
        for target in graph[module]:
            if target == path[0]:
                cycles.append(" → ".join([*path, target]))
            elif target not in path and target > path[0]:  # each cycle once, from its smallest module
                visit(target, [*path, target])

    for module in sorted(graph):
        visit(module, [module])
    assert not cycles, "import circles:\n" + "\n".join(cycles)
