"""`lerobot-ros-dataset validate` finds what is wrong and says it plainly; `info` summarises."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import lerobot_dataset
from lerobot_dataset.cli import main

CAMERA = "observation.images.cam0"


@pytest.fixture(scope="module")
def good(kit, tmp_path_factory):
    return kit.make_dataset(tmp_path_factory.mktemp("cli") / "ds", [6, 5, 4]).root


@pytest.fixture
def broken(good, tmp_path):
    """A fresh copy of the good dataset, to damage."""
    root = tmp_path / "copy"
    shutil.copytree(good, root)
    return root


def _rewrite_parquet(path: Path, change) -> None:
    table = pq.read_table(path)
    pq.write_table(change(table), path)


def test_validate_accepts_a_good_dataset(good, capsys) -> None:
    assert main(["validate", str(good), "-q"]) == 0
    assert "valid LeRobot v3.0 dataset" in capsys.readouterr().out


def _shift_from_timestamp(root: Path) -> None:
    def change(table: pa.Table) -> pa.Table:
        column = f"videos/{CAMERA}/from_timestamp"
        values = table.column(column).to_pylist()
        values[1] += 1 / 30  # one frame off: lerobot would silently return the wrong frames
        return table.set_column(table.column_names.index(column), column, pa.array(values, pa.float64()))

    _rewrite_parquet(root / "meta/episodes/chunk-000/file-000.parquet", change)


def _break_timestamps(root: Path) -> None:
    def change(table: pa.Table) -> pa.Table:
        values = table.column("timestamp").to_numpy().copy()
        values[3] += 0.01
        return table.set_column(
            table.column_names.index("timestamp"), "timestamp", pa.array(values, pa.float32())
        )

    _rewrite_parquet(root / "data/chunk-000/file-000.parquet", change)


def _extra_column(root: Path) -> None:
    _rewrite_parquet(
        root / "data/chunk-000/file-000.parquet",
        lambda t: t.append_column("debug", pa.array(np.zeros(t.num_rows))),
    )


def _nan_state(root: Path) -> None:
    def change(table: pa.Table) -> pa.Table:
        values = np.stack(table.column("observation.state").to_pylist()).astype(np.float32)
        values[2, 1] = np.nan
        array = pa.FixedSizeListArray.from_arrays(pa.array(values.ravel()), 6)
        return table.set_column(0, "observation.state", array)

    _rewrite_parquet(root / "data/chunk-000/file-000.parquet", change)


def _drop_video_frames(root: Path) -> None:
    # Replace the mp4 by one with the first episode only: later episodes point past its end.
    from lerobot_dataset.video import VideoEncoderConfig, VideoFileEncoder

    path = root / f"videos/{CAMERA}/chunk-000/file-000.mp4"
    encoder = VideoFileEncoder(path, 30, 64, 48, VideoEncoderConfig())
    for i in range(6):
        encoder.encode(np.full((48, 64, 3), i * 20, np.uint8))
    encoder.close()


def _edit_info(root: Path, change) -> None:
    info = json.loads((root / "meta/info.json").read_text())
    change(info)
    (root / "meta/info.json").write_text(json.dumps(info))


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (_shift_from_timestamp, "episode 1 starts at 0.233333 s in this file, expected 0.200000 s"),
        (_break_timestamps, "frame 3 has timestamp 0.110000 s but frame_index/fps is 0.100000 s"),
        (_extra_column, "columns that are not (non-video) features: debug"),
        (_nan_state, "'observation.state' holds NaN or infinite values"),
        (_drop_video_frames, "decodes to 6 frames but its episodes (0, 1, 2) have 15"),
        (lambda r: (r / f"videos/{CAMERA}/chunk-000/file-000.mp4").unlink(), "is missing (episodes 0, 1, 2"),
        (
            lambda r: _edit_info(r, lambda i: i.update(fps=29.97)),
            "fps must be a positive integer, it is 29.97",
        ),
        (lambda r: _edit_info(r, lambda i: i.update(total_frames=99)), "total_frames is 99"),
        (lambda r: _edit_info(r, lambda i: i.pop("splits")), "lacks splits"),
        (lambda r: _edit_info(r, lambda i: i["features"].pop("index")), "default feature 'index' is missing"),
        (lambda r: (r / "meta/stats.json").unlink(), "stats.json: is missing"),
        (lambda r: (r / "meta/tasks.parquet").write_bytes(b"not parquet"), "is not a readable parquet file"),
    ],
    ids=[
        "from-timestamp",
        "timestamps",
        "extra-column",
        "nan",
        "short-video",
        "missing-video",
        "fps",
        "total-frames",
        "missing-key",
        "missing-default",
        "no-stats",
        "bad-tasks",
    ],
)
def test_validate_reports_each_problem_in_words(broken, capsys, damage, expected) -> None:
    damage(broken)
    assert main(["validate", str(broken), "-q"]) == 1
    out = capsys.readouterr().out
    assert expected in out, out
    assert "NOT a valid LeRobot v3.0 dataset" in out


def test_info_summarises(good, capsys) -> None:
    assert main(["info", str(good)]) == 0
    out = capsys.readouterr().out
    assert "fps       30" in out and "episodes  3" in out and "frames    15" in out
    assert "pick the red cube" in out and "video    64x48x3  av1 yuv420p" in out
    assert main(["info", str(good), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["episodes"] == 3 and summary["tasks"][1] == "place it in the bin"


def test_errors_on_a_folder_that_is_not_a_dataset(tmp_path, capsys) -> None:
    assert main(["info", str(tmp_path)]) == 1
    assert "meta/info.json is missing" in capsys.readouterr().err
    assert main(["validate", str(tmp_path), "-q"]) == 1


def test_help_lists_the_commands() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from lerobot_dataset.cli import main; sys.exit(main())",
            "--help",
        ],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                [str(Path(lerobot_dataset.__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")]
            ),
        },
        timeout=60,
    )
    assert result.returncode == 0
    for word in ("validate ROOT", "info ROOT", "recover ROOT", "exit status"):
        assert word in result.stdout
