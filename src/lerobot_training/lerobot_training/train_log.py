"""What a training run reports: a tqdm bar (loss, lr, throughput) on a terminal, else a plain line every
``log_freq`` steps (a log file or CI gets no carriage-return redraws); TensorBoard scalars, ``train_log.csv``
and ``training_curve.png`` in the output directory. Only the main process writes."""

from __future__ import annotations

import csv
import math
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

LOG_NAME = "train_log.csv"
CURVE_NAME = "training_curve.png"
TENSORBOARD_DIR = "tensorboard"
COLUMNS = ("step", "loss", "lr", "grad_norm", "samples_per_s", "data_s", "update_s")


def read_log(path: str | Path) -> list[dict[str, float]]:
    """Rows of a ``train_log.csv`` as numbers."""
    with open(path, newline="") as handle:
        return [{key: float(value) for key, value in row.items()} for row in csv.DictReader(handle)]


class TrainLogger:
    def __init__(self, output_dir: Path, total_steps: int, start_step: int, enabled: bool) -> None:
        self.enabled = enabled
        self.path = output_dir / LOG_NAME
        self.curve_path = output_dir / CURVE_NAME
        self.total_steps, self.start_step, self.started = total_steps, start_step, time.monotonic()
        self.on_terminal = sys.stderr.isatty()
        self.bar = tqdm(
            total=total_steps,
            initial=start_step,
            disable=not (enabled and self.on_terminal),
            unit="step",
            dynamic_ncols=True,
        )
        if not enabled:
            return
        output_dir.mkdir(parents=True, exist_ok=True)
        # On resume keep the rows up to the checkpoint: steps logged after it are trained again.
        rows = (
            [row for row in read_log(self.path) if row["step"] <= start_step] if self.path.is_file() else []
        )
        with open(self.path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, COLUMNS)
            writer.writeheader()
            writer.writerows({k: _plain(v) for k, v in row.items()} for row in rows)
        self.tensorboard = SummaryWriter(str(output_dir / TENSORBOARD_DIR), purge_step=start_step + 1)

    def step(self) -> None:
        self.bar.update(1)

    def log(self, step: int, values: Mapping[str, float]) -> None:
        self.bar.set_postfix(
            loss=f"{values['loss']:.4f}", lr=f"{values['lr']:.2e}", samples_s=f"{values['samples_per_s']:.1f}"
        )
        if not self.enabled:
            return
        if not self.on_terminal:
            print(self._line(step, values), file=sys.stderr, flush=True)
        for key, value in values.items():
            self.tensorboard.add_scalar(f"train/{key}", value, step)
        with open(self.path, "a", newline="") as handle:
            csv.DictWriter(handle, COLUMNS).writerow({"step": step, **{k: values[k] for k in COLUMNS[1:]}})

    def _line(self, step: int, values: Mapping[str, float]) -> str:
        """The progress line for a log file: step, share done, loss, lr, throughput, time left."""
        elapsed = time.monotonic() - self.started
        done = step - self.start_step
        left = elapsed / done * (self.total_steps - step) if done > 0 else float("nan")
        eta = f"{int(left // 60)}m{int(left % 60):02d}s" if math.isfinite(left) else "?"
        return (
            f"step {step}/{self.total_steps} ({100 * step / max(self.total_steps, 1):.0f}%): "
            f"loss {values['loss']:.4f}, lr {values['lr']:.2e}, {values['samples_per_s']:.1f} samples/s, "
            f"{eta} left"
        )

    def plot(self) -> None:
        """Redraw the loss and learning-rate curves from ``train_log.csv``."""
        if not self.enabled:
            return
        rows = read_log(self.path)
        if not rows:
            return
        steps = [row["step"] for row in rows]
        figure = Figure(figsize=(8, 5), tight_layout=True)
        FigureCanvasAgg(figure)
        loss_axes, lr_axes = figure.subplots(2, 1, sharex=True, height_ratios=(3, 1))
        loss_axes.plot(steps, [row["loss"] for row in rows], color="tab:blue")
        if all(row["loss"] > 0 for row in rows):
            loss_axes.set_yscale("log")
        loss_axes.set_ylabel("training loss")
        loss_axes.grid(True, alpha=0.3)
        lr_axes.plot(steps, [row["lr"] for row in rows], color="tab:orange")
        lr_axes.set_ylabel("learning rate")
        lr_axes.set_xlabel("step")
        lr_axes.grid(True, alpha=0.3)
        figure.savefig(self.curve_path, dpi=100)

    def write(self, message: str) -> None:
        if self.enabled:
            tqdm.write(message)

    def close(self) -> None:
        self.bar.close()
        if self.enabled:
            self.tensorboard.close()


def _plain(value: float) -> float | int:
    return int(value) if math.isfinite(value) and value == int(value) else value
