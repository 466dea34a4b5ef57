"""Crash safety and appending: a writer killed at any point leaves the dataset as it was before."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import lerobot_dataset
from lerobot_dataset import DatasetReader, DatasetWriter
from lerobot_dataset import stats as stats_lib
from lerobot_dataset.cli import main
from lerobot_dataset.paths import JOURNAL_PATH, STAGING_DIR
from lerobot_dataset.validate import validate_dataset

PACKAGE_PARENT = str(Path(lerobot_dataset.__file__).resolve().parents[1])

# A writer process that appends one episode. With CRASH_AT=k it dies (os._exit, no clean-up) at the k-th
# os.replace of the save; with CRASH_AT=0 it reports how many os.replace calls a save makes; with HANG it
# stops mid-episode and waits to be killed.
CHILD = """
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np
from lerobot_dataset import DatasetWriter

root, mode, crash_at = sys.argv[2], sys.argv[3], int(sys.argv[4])
writer = DatasetWriter.append(root)
for i in range(12):
    writer.add_frame({
        "observation.state": np.full(6, i, np.float32), "action": np.full(6, -i, np.float32),
        "next.reward": np.float32(0), "observation.images.cam0": np.full((48, 64, 3), 10 * i, np.uint8),
    }, task="crash test")
if mode == "hang":
    print("ready", flush=True)
    time.sleep(60)
calls = [0]
real_replace = os.replace
def replace(src, dst):
    calls[0] += 1
    if calls[0] == crash_at:
        os._exit(9)
    real_replace(src, dst)
os.replace = replace
writer.save_episode()
os.replace = real_replace
writer.close()
print(json.dumps({"replaces": calls[0]}), flush=True)
"""


def _run_child(root: Path, mode: str, crash_at: int = 0) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", CHILD, PACKAGE_PARENT, str(root), mode, str(crash_at)],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def base(kit, tmp_path):
    written = kit.make_dataset(tmp_path / "ds", [6, 5])
    return written.root, kit.hash_tree(written.root)


def test_killed_mid_episode_leaves_the_dataset_untouched(kit, base) -> None:
    root, before = base
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, PACKAGE_PARENT, str(root), "hang", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline().strip() == "ready"
        assert (root / STAGING_DIR).exists()  # the episode's video is being encoded there
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert kit.hash_tree(root) == before
    with DatasetReader(root) as reader:
        assert reader.num_episodes == 2
    with DatasetWriter.append(root) as writer:  # cleans the dead writer's scratch files
        assert writer.num_episodes == 2
    assert not (root / STAGING_DIR).exists()
    assert validate_dataset(root) == []


def test_crash_at_any_step_of_a_save_rolls_back(kit, base, tmp_path) -> None:
    root, before = base
    probe = tmp_path / "probe"
    shutil.copytree(root, probe)
    counted = _run_child(probe, "save", 0)
    assert counted.returncode == 0, counted.stderr
    total = json.loads(counted.stdout.strip().splitlines()[-1])["replaces"]
    assert total >= 8  # staging moves, the journal, then one per file replaced
    assert validate_dataset(probe) == []
    for crash_at in range(1, total + 1):
        result = _run_child(root, "save", crash_at)
        assert result.returncode == 9, result.stderr
        if crash_at == total:
            assert (root / JOURNAL_PATH).exists()  # died with every file moved but the journal still there
        if (root / JOURNAL_PATH).exists():
            assert any(
                "a save was interrupted" in p.message for p in validate_dataset(root, decode_videos=False)
            )
        # The next open rolls back; the reader, the writer and `lerobot-ros-dataset recover` take turns.
        if crash_at % 3 == 0:
            with DatasetReader(root) as reader:
                assert reader.num_episodes == 2 and reader.num_frames == 11
            shutil.rmtree(root / STAGING_DIR, ignore_errors=True)  # readers leave scratch files alone
        elif crash_at % 3 == 1:
            DatasetWriter.append(root).close()
        else:
            assert main(["recover", str(root)]) == 0
        assert kit.hash_tree(root) == before, f"crash at os.replace #{crash_at} was not rolled back"
        assert not (root / JOURNAL_PATH).exists()
    assert validate_dataset(root) == []
    # After all those crashes the dataset still takes new episodes.
    assert _run_child(root, "save", 0).returncode == 0
    assert validate_dataset(root) == []


def test_discarded_episode_leaves_no_trace(kit, base) -> None:
    root, before = base
    feats = kit.features()
    with DatasetWriter.append(root) as writer:
        for i in range(4):
            writer.add_frame(kit.frame_of(50 + i, feats), task="x")
        writer.discard_episode()
        assert writer.pending_frames == 0
        writer.add_frame(kit.frame_of(60, feats), task="y")
    # close() dropped the unsaved frame too
    assert kit.hash_tree(root) == before
    assert not (root / STAGING_DIR).exists()


def test_append_continues_indices_tasks_and_stats(kit, tmp_path) -> None:
    feats = kit.features(video_cameras=1, image_cameras=1)
    written = kit.make_dataset(tmp_path / "ds", [5, 4], feats)
    with DatasetWriter.append(written.root) as writer:
        assert (writer.num_episodes, writer.num_frames) == (2, 9)
        kit.write_episodes(writer, feats, [6, 3], first_episode=2, first_index=9)
    total = 18
    with DatasetReader(written.root) as reader:
        assert reader.num_episodes == 4 and reader.num_frames == total
        assert reader.tasks == [kit.task_of(0), kit.task_of(1), kit.task_of(2)]
        # Resumed writing starts new files; the two appended episodes then share them.
        assert [ep.data_file.file for ep in reader.episodes] == [0, 0, 1, 1]
        assert [ep.videos["observation.images.cam0"].file.file for ep in reader.episodes] == [0, 0, 1, 1]
        assert reader.episodes[3].videos["observation.images.cam0"].from_timestamp == pytest.approx(
            6 / kit.FPS
        )
        sources = {i: kit.camera_frame(i, 0) for i in range(total)}
        for index in (8, 9, 14, 15, 17):
            item = reader.frame(index)
            np.testing.assert_array_equal(item["observation.state"], kit.state_of(index))
            assert kit.best_match(item["observation.images.cam0"], sources)[0] == index
            np.testing.assert_array_equal(item["observation.images.still0"], kit.camera_frame(index, 1))
    rows = pa.concat_tables(
        [pq.read_table(p) for p in sorted((written.root / "meta/episodes").glob("*/*.parquet"))]
    ).to_pylist()
    keys = json.loads((written.root / "meta/info.json").read_text())["features"]
    per_episode = [
        {k: {n: np.asarray(r[f"stats/{k}/{n}"]) for n in stats_lib.STAT_NAMES} for k in keys} for r in rows
    ]
    saved = json.loads((written.root / "meta/stats.json").read_text())
    expected = stats_lib.aggregate(per_episode)
    for key in keys:
        for name in stats_lib.STAT_NAMES:
            np.testing.assert_allclose(saved[key][name], expected[key][name], rtol=1e-9)
    assert saved["index"]["max"] == [total - 1]
    assert validate_dataset(written.root) == []


def test_reader_waits_for_a_live_writer_mid_commit(kit, base) -> None:
    """A journal with a live writer means a commit in progress: readers must not roll it back."""
    from lerobot_dataset import DatasetLockedError

    root, _ = base
    with DatasetWriter.append(root):
        (root / JOURNAL_PATH).write_text("[]")
        with pytest.raises(DatasetLockedError):
            DatasetReader(root)
        (root / JOURNAL_PATH).unlink()
