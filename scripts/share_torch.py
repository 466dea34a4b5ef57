"""Hard-links the suite venv's torch and torchvision (with everything they need) into the lerobot venv.

Both venvs pin the same torch release, a CUDA build of about 5 GB. Installing it twice filled the disk of a
CI machine; hard links cost no space. Files outside site-packages (console scripts such as torchrun, whose
first line names the other venv's Python) are left out. Run with the suite venv's Python:

    .venv/bin/python scripts/share_torch.py .venv-lerobot requirements/interop.txt

Exits 0 when the lerobot venv has the pinned torch afterwards, 1 when it could not be shared (another torch
release asked for, or the venvs on different file systems): pip then installs it the usual way.
"""

import importlib.metadata
import os
import re
import sys
import sysconfig
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOTS = ("torch", "torchvision")


def pinned_version(requirements_file: Path, name: str) -> str | None:
    match = re.search(rf"^{name}==(\S+)", requirements_file.read_text(), re.MULTILINE)
    return match.group(1) if match else None


def closure(roots) -> list[importlib.metadata.Distribution]:
    """The installed distributions `roots` need, recursively, extras included (cuda-toolkit[cufile])."""
    found, seen, todo = {}, set(), [(root, "") for root in roots]
    while todo:
        name, extra = todo.pop()
        name = canonicalize_name(name)
        if (name, extra) in seen:
            continue
        seen.add((name, extra))
        found[name] = dist = importlib.metadata.distribution(name)
        for spec in dist.requires or ():
            requirement = Requirement(spec)
            if requirement.marker is None or requirement.marker.evaluate({"extra": extra}):
                todo += [(requirement.name, wanted) for wanted in ("", *requirement.extras)]
    return list(found.values())


def link(dist, source_root: Path, target_root: Path) -> int:
    """Links one distribution's files, its metadata last: pip sees a half-linked one as not installed."""
    count = 0
    for file in sorted(dist.files or (), key=lambda file: ".dist-info/" in str(file)):
        source = Path(os.path.abspath(dist.locate_file(file)))  # RECORD names bin/ as ../../../bin
        if not source.is_relative_to(source_root) or not source.is_file():
            continue
        target = target_root / source.relative_to(source_root)
        if target.is_symlink() or target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():  # libcufile.so.0 -> libcufile.so.1.15: the loader asks for the link's name
            os.symlink(os.readlink(source), target)
        else:
            os.link(source, target)
        count += 1
    return count


def main(target_venv: str, requirements_file: str) -> int:
    wanted = pinned_version(Path(requirements_file), "torch")
    have = importlib.metadata.version("torch")
    if wanted != have:
        print(f"[share_torch] {requirements_file} asks for torch {wanted}, this venv has {have}: not shared")
        return 1
    source_root = Path(os.path.abspath(sysconfig.get_path("purelib")))
    site = sorted(Path(target_venv).glob("lib/python3*/site-packages"))
    if not site:
        print(f"[share_torch] {target_venv} has no site-packages: not shared")
        return 1
    try:
        files = sum(link(dist, source_root, site[0].absolute()) for dist in closure(ROOTS))
    except OSError as error:  # EXDEV: another file system; pip installs a copy instead
        print(f"[share_torch] could not hard-link ({error}): pip will install torch {wanted} instead")
        return 1
    print(f"[share_torch] torch {have} and what it needs hard-linked into {target_venv} ({files} files)")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))
