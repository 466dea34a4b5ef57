"""Damaged datasets: every file of a written dataset, truncated, overwritten, deleted or given wrong types, is
refused by the reader and by validate with this package's error naming the file (never a pyarrow, PyAV or
Python error from deep inside), and the `lerobot-ros-dataset` commands say so without a traceback."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lerobot_dataset import DatasetError, DatasetReader
from lerobot_dataset.cli import main
from lerobot_dataset.paths import JOURNAL_PATH
from lerobot_dataset.validate import has_errors, validate_dataset

FILES = {
    "info": "meta/info.json",
    "stats": "meta/stats.json",
    "tasks": "meta/tasks.parquet",
    "episodes": "meta/episodes/chunk-000/file-000.parquet",
    "data": "data/chunk-000/file-000.parquet",
    "video": "videos/observation.images.cam0/chunk-000/file-000.mp4",
}


@pytest.fixture(scope="module")
def written(kit, tmp_path_factory) -> Path:
    """Three episodes with a video camera and a PNG camera, one file of each kind."""
    root = tmp_path_factory.mktemp("corrupt") / "ds"
    return kit.make_dataset(root, [6, 5, 4], kit.features(video_cameras=1, image_cameras=1)).root


@pytest.fixture
def copy(written, tmp_path) -> Path:
    root = tmp_path / "copy"
    shutil.copytree(written, root)
    return root


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garbage(path: Path) -> None:
    size = len(path.read_bytes())
    path.write_bytes(np.random.default_rng(0).integers(0, 256, size, dtype=np.uint8).tobytes())


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _delete(path: Path) -> None:
    path.unlink()


def _wrong_types(path: Path) -> None:
    """Numbers and lists become text (JSON, parquet); a video becomes a container without a video stream."""
    if path.suffix == ".json":

        def retype(value):
            if isinstance(value, dict):
                return {k: retype(v) for k, v in value.items()}
            if isinstance(value, list):
                return "x"
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return "thirty"
            return value

        path.write_text(json.dumps(retype(json.loads(path.read_text()))))
    elif path.suffix == ".parquet":
        table = pq.read_table(path)
        as_text = [pa.array([str(v) for v in column.to_pylist()]) for column in table.columns]
        pq.write_table(pa.table(dict(zip(table.column_names, as_text, strict=True))), path)
    else:
        path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(100))


CORRUPTIONS: dict[str, Callable[[Path], None]] = {
    "truncate": _truncate,
    "garbage": _garbage,
    "empty": _empty,
    "delete": _delete,
    "wrong-types": _wrong_types,
}


def _read_everything(root: Path) -> None:
    with DatasetReader(root) as reader:
        for _ in reader.iter_frames():
            pass
        reader.window(3, {"action": [0.0, 1 / 30], "observation.images.cam0": [0.0]})
        assert reader.stats


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
@pytest.mark.parametrize("file", list(FILES))
def test_each_damaged_file_is_refused_with_the_packages_error_naming_it(copy, file, corruption) -> None:
    rel = FILES[file]
    CORRUPTIONS[corruption](copy / rel)
    problems = validate_dataset(copy)
    # Parquet files are found by listing their folder: with the only one gone, the folder is named.
    named = str(Path(rel).parent.parent) if corruption == "delete" and rel.endswith(".parquet") else rel
    assert any(named in f"{p.where}: {p.message}" for p in problems if p.severity == "error"), problems
    with pytest.raises(DatasetError) as raised:
        _read_everything(copy)
    assert named in str(raised.value)


def _rewrite_state(root: Path, values: pa.Array) -> None:
    path = root / FILES["data"]
    table = pq.read_table(path)
    index = table.column_names.index("observation.state")
    pq.write_table(table.set_column(index, "observation.state", values), path)


def test_a_state_with_fewer_values_than_its_shape_is_refused(copy) -> None:
    rows = pq.read_metadata(copy / FILES["data"]).num_rows
    _rewrite_state(copy, pa.array([[0.5] * 5] * rows, pa.list_(pa.float32())))  # info.json says 6
    problems = validate_dataset(copy, decode_videos=False)
    assert has_errors(problems)
    assert any("'observation.state' holds 5 values in row 0" in p.message for p in problems), problems
    with DatasetReader(copy) as reader, pytest.raises(DatasetError, match=r"row 0 holds 5 values.*\[6\]"):
        reader.frame(0, decode=False)


def test_rows_of_varying_length_are_refused(copy) -> None:
    rows = pq.read_metadata(copy / FILES["data"]).num_rows
    values = [[0.5] * 6] * (rows - 1) + [[0.5] * 7]
    _rewrite_state(copy, pa.array(values, pa.list_(pa.float32())))
    assert any(f"in row {rows - 1}" in p.message for p in validate_dataset(copy, decode_videos=False))
    with DatasetReader(copy) as reader, pytest.raises(DatasetError, match=f"row {rows - 1} holds 7 values"):
        reader.frame(0, decode=False)


def _edit_info(root: Path, **changes) -> None:
    path = root / FILES["info"]
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda r: (r / FILES["info"]).write_bytes(b"\xff\xfe{not utf-8}"), "meta/info.json is not UTF-8"),
        (lambda r: _edit_info(r, fps=0), "fps must be a positive integer, it is 0"),
        (lambda r: _edit_info(r, fps="thirty"), "fps must be a positive integer, it is 'thirty'"),
        (lambda r: _truncate(r / FILES["episodes"]), f"{FILES['episodes']} is not a readable parquet file"),
    ],
    ids=["info-not-utf8", "fps-0", "fps-text", "truncated-episodes"],
)
def test_info_on_a_damaged_dataset_says_what_is_wrong(copy, capsys, damage, message) -> None:
    damage(copy)
    code, _, err = _cli(capsys, "info", str(copy))
    assert code == 1
    assert err.startswith("error: ") and message in err, err
    code, out, _ = _cli(capsys, "validate", str(copy), "-q", "--no-decode")
    assert code == 1 and "NOT a valid LeRobot v3.0 dataset" in out


def test_a_file_given_as_the_root_is_refused(copy, capsys) -> None:
    root = copy / FILES["info"]
    code, _, err = _cli(capsys, "info", str(root))
    assert code == 1 and "cannot be read" in err and "root folder" in err, err
    code, _, err = _cli(capsys, "recover", str(root))
    assert code == 1 and f"{root} is not a folder" in err, err
    assert json.loads(root.read_text())["fps"] == 30  # untouched


def test_recover_on_a_missing_path_creates_nothing(tmp_path, capsys) -> None:
    missing = tmp_path / "no" / "such" / "dataset"
    code, _, err = _cli(capsys, "recover", str(missing))
    assert code == 1 and "is not a folder" in err
    assert not (tmp_path / "no").exists()


def test_a_damaged_journal_is_reported_not_rolled_back(copy, capsys, kit) -> None:
    (copy / JOURNAL_PATH).write_bytes(b"\x00garbage{")
    before = kit.hash_tree(copy)
    code, _, err = _cli(capsys, "recover", str(copy))
    assert code == 1 and f"{JOURNAL_PATH} is damaged" in err and "Move it out of the dataset" in err, err
    assert kit.hash_tree(copy) == before
    with pytest.raises(DatasetError, match="is damaged"):
        DatasetReader(copy)
