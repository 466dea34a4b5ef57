"""The policy in a process of its own beside the node (``inference: process``): lerobot-ros-serve on a Unix
socket, so the model's Python never holds the control loop's GIL between ticks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lerobot_policy_node.remote.client import UNIX_PREFIX

START_TIMEOUT_S = 300.0  # loading torch and a large checkpoint (π₀) on a slow disk


class InferenceProcessError(RuntimeError):
    """The inference process did not come up; the text holds the end of its log."""


class InferenceProcess:
    """Starts the server; ``address`` is what RemotePolicy connects to; ``close()`` stops it."""

    def __init__(self, checkpoint: str, device: str = "", threads: int = 0) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="lerobot-ros-inference-"))
        socket, self.log = self.folder / "policy.sock", self.folder / "server.log"
        command = [
            sys.executable, "-m", "lerobot_policy_node.serve_cli", "--checkpoint", str(checkpoint),
            "--unix", str(socket), "--threads", str(threads), "--parent-pid", str(os.getpid()),
        ]  # fmt: skip
        if device:
            command += ["--device", device]
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not socket.exists():  # the server binds it once the checkpoint is loaded and warmed up
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = self.log.read_text(errors="replace").strip().splitlines()[-5:]
                self.close()
                raise InferenceProcessError("the inference process did not start: " + " | ".join(tail))
            time.sleep(0.05)
        self.address = f"{UNIX_PREFIX}{socket}"

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)
