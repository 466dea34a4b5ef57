"""Where the suite's configuration files are: the source tree first, then the installed `lerobot` package."""

import os
from pathlib import Path

# src/lerobot_common/lerobot_common/config_files.py → the repository root holds config/ (colcon's symlink
# install links the package folder back here, so resolve() finds it from build/ too).
_SOURCE_CONFIG = Path(__file__).resolve().parents[3] / "config"


def config_dirs() -> list[Path]:
    """Candidate config/ folders, in lookup order: the source tree, then `<prefix>/share/lerobot/config` for
    every prefix of AMENT_PREFIX_PATH (the bringup package installs config/ there; no ament_index needed)."""
    dirs = [_SOURCE_CONFIG]
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        if prefix:
            dirs.append(Path(prefix) / "share" / "lerobot" / "config")
    return dirs


def find_config(relative: str | os.PathLike) -> Path:
    """The first existing ``config/<relative>``; FileNotFoundError naming every place looked at otherwise."""
    candidates = [d / relative for d in config_dirs()]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    looked = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(
        f"config file {relative} not found (looked in {looked}); run from a source checkout or build and "
        "source the workspace so that the `lerobot` package's share folder is on AMENT_PREFIX_PATH"
    )
