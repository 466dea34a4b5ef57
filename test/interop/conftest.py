"""The interoperability tier: the real lerobot (``.venv-lerobot``, made by ``make setup``) on the suite's
files and the suite on lerobot's, compared with numbers.

The suite never imports lerobot: each check runs a script of ``lerobot_side/`` in the lerobot venv as a
subprocess, which prints one JSON object on its last stdout line. A missing venv fails the tier (it is never
skipped): run ``make setup``.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LEROBOT_PYTHON = ROOT / ".venv-lerobot" / "bin" / "python"
SCRIPTS = Path(__file__).with_name("lerobot_side")


def lerobot_env() -> dict[str, str]:
    """The environment of a lerobot subprocess: offline (nothing may be fetched from a hub), one torch thread
    pool of a sensible size, and none of the suite venv's paths (it must not see the suite's packages)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "AMENT_PREFIX_PATH")}
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="2")
    env["PATH"] = f"{LEROBOT_PYTHON.parent}:{env.get('PATH', '')}"
    return env


@pytest.fixture(scope="session")
def lerobot() -> Callable[..., dict]:
    """``lerobot(script, *args)`` runs ``lerobot_side/<script>.py`` with the real lerobot and returns the JSON
    object it printed last; a failing script fails the test with its output."""
    if not LEROBOT_PYTHON.exists():
        pytest.fail(
            f"{LEROBOT_PYTHON} is missing: run `make setup` (it creates the lerobot venv for this tier)"
        )

    def run(script: str, *args: object, timeout: float = 900) -> dict:
        command = [str(LEROBOT_PYTHON), str(SCRIPTS / f"{script}.py"), *map(str, args)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=lerobot_env())
        if result.returncode != 0:
            pytest.fail(
                f"{script} failed in the lerobot venv (exit {result.returncode}):\n{result.stderr[-6000:]}"
            )
        lines = result.stdout.strip().splitlines()
        assert lines, f"{script} printed nothing:\n{result.stderr[-3000:]}"
        return json.loads(lines[-1])

    return run
