"""Repair what the ROS 2 PyPI wheels get wrong so that colcon can build interface packages in a venv.

The wheels' exported CMake files name the wheel builder's Python include directory and NumPy include
directory (``/opt/python/cp311-cp311/...``), which do not exist on a user's machine; CMake's generate
step fails on them. This rewrites both to the running interpreter's. Idempotent: a second run changes nothing.
"""

from __future__ import annotations

import re
import sys
import sysconfig
from pathlib import Path

import numpy

BUILDER_PREFIX = re.compile(r"/opt/python/cp3\d+-cp3\d+")


def replacements() -> list[tuple[re.Pattern[str], str]]:
    python_include = sysconfig.get_paths()["include"]
    return [
        (
            re.compile(BUILDER_PREFIX.pattern + r"/lib/python3\.\d+/site-packages/numpy/_core/include"),
            numpy.get_include(),
        ),
        (re.compile(BUILDER_PREFIX.pattern + r"/include/python3\.\d+"), python_include),
    ]


def repair(prefix: Path) -> list[Path]:
    """Rewrite the builder paths in every CMake file under ``prefix/share``; return the files changed."""
    changed = []
    rules = replacements()
    for path in sorted((prefix / "share").glob("*/cmake/*.cmake")):
        text = path.read_text()
        new = text
        for pattern, target in rules:
            new = pattern.sub(target, new)
        if new != text:
            path.write_text(new)
            changed.append(path)
    return changed


def main() -> int:
    prefix = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(sys.prefix)
    changed = repair(prefix)
    print(f"repair_ros_wheels: {len(changed)} CMake file(s) rewritten under {prefix / 'share'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
