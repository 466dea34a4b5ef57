"""All the dataset checks that need lerobot, in one process (each lerobot import costs seconds).

argv[1] is a JSON plan written by test_datasets.py:
- ``read``: [{name, root, indices, delta_timestamps}]: load each dataset with LeRobotDataset, dump every
  non-video column and the items at ``indices`` (plain and with ``delta_timestamps``);
- ``edit``: {source, delete, split, shared_source, shared_delete, out}: delete episodes, split, merge the
  splits back, and delete from a dataset whose episodes share one mp4, with lerobot's tools;
- ``write``: [{name, root, fps, episodes: [[task, length], ...], cameras: {key: [h, w]}, depth: {...}}]:
  datasets written by lerobot itself (LeRobotDataset.create/add_frame/save_episode), read back as under
  ``read``; depth cameras get uint16 millimetres (``depth_picture``).
Arrays go to ``<out>/arrays.npz``; the last stdout line is a JSON summary. Comparisons happen in pytest.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lerobot.datasets.dataset_tools import delete_episodes, merge_datasets, split_dataset
from lerobot.datasets.lerobot_dataset import LeRobotDataset

WARNINGS: list[str] = []


class _Collect(logging.Handler):
    """Keeps lerobot's warnings: a dataset it loads with a warning is a finding."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            WARNINGS.append(record.getMessage())


def _numpy(value: Any) -> np.ndarray | None:
    if isinstance(value, torch.Tensor):
        return value.numpy()
    if isinstance(value, (int, float, bool, np.ndarray)):
        return np.asarray(value)
    return None


def read(name: str, root: str, indices: list[int], delta: dict | None, arrays: dict) -> dict:
    dataset = LeRobotDataset(name, root=root, video_backend="pyav")
    meta = dataset.meta
    for key, ft in meta.features.items():
        if ft["dtype"] not in ("video", "image", "string"):
            arrays[f"{name}/column/{key}"] = torch.stack(list(dataset.hf_dataset[key])).numpy()
    items: dict[str, dict[str, str]] = {}
    windowed = (
        LeRobotDataset(name, root=root, video_backend="pyav", delta_timestamps=delta) if delta else None
    )
    for mode, source in (("item", dataset), ("window", windowed)):
        if source is None:
            continue
        for index in indices:
            item = source[index]
            items[f"{mode}/{index}"] = {"task": item["task"]}
            for key, value in item.items():
                array = _numpy(value)
                if array is not None:
                    arrays[f"{name}/{mode}/{index}/{key}"] = array
    episodes = meta.episodes
    return {
        "num_frames": len(dataset),
        "total_episodes": meta.total_episodes,
        "total_frames": meta.total_frames,
        "tasks": [str(task) for task in meta.tasks.index],
        "episodes": [
            {
                "from": int(episodes[i]["dataset_from_index"]),
                "to": int(episodes[i]["dataset_to_index"]),
                "tasks": list(episodes[i]["tasks"]),
            }
            for i in range(meta.total_episodes)
        ],
        "video_keys": meta.video_keys,
        "depth_keys": meta.depth_keys,
        "items": items,
    }


def edit(plan: dict) -> dict:
    source = LeRobotDataset("suite/edit_source", root=plan["source"], video_backend="pyav")
    out = Path(plan["out"])
    delete_episodes(source, plan["delete"], output_dir=out / "deleted", repo_id="suite/deleted")
    parts = split_dataset(source, {k: list(v) for k, v in plan["split"].items()}, output_dir=out / "split")
    # The parts merged back in the order the plan lists them: episodes come out reordered.
    merge_datasets([parts[k] for k in plan["split"]], "suite/merged", output_dir=out / "merged")
    # An episode in the middle of a shared mp4: lerobot re-encodes the kept frames with the encoder settings
    # it parses from the suite's info.json.
    shared = LeRobotDataset("suite/shared", root=plan["shared_source"], video_backend="pyav")
    delete_episodes(shared, plan["shared_delete"], output_dir=out / "deleted_shared", repo_id="suite/ds")
    return {
        "deleted": str(out / "deleted"),
        "split": {k: str(out / "split" / k) for k in plan["split"]},
        "merged": str(out / "merged"),
        "deleted_shared": str(out / "deleted_shared"),
    }


def camera_picture(index: int, camera: int, height: int, width: int) -> np.ndarray:
    """Flat colours set by the frame and camera, a gradient, and a block pattern: no two frames alike."""
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[..., 0] = (index * 29 + camera * 70) % 256
    image[..., 1] = (index * 47 + 60 + camera * 30) % 256
    image[..., 2] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
    rng = np.random.default_rng(1000 + index * 7 + camera)
    blocks = rng.integers(0, 256, (height // 16, width // 16, 3), dtype=np.uint8)
    patch = np.kron(blocks, np.ones((8, 8, 1), dtype=np.uint8))
    image[: patch.shape[0], : patch.shape[1]] = patch
    return image


def depth_picture(index: int, height: int, width: int) -> np.ndarray:
    """Millimetres from 0.3 m to 5.3 m, moving with the frame index."""
    yy, xx = np.mgrid[0:height, 0:width]
    return (300 + (xx * 53 + yy * 29 + index * 17) % 5000).astype(np.uint16)[..., None]


def write(plan: dict) -> None:
    cameras = {key: tuple(size) for key, size in plan["cameras"].items()}
    depths = {key: tuple(size) for key, size in plan.get("depth", {}).items()}
    names = ["height", "width", "channels"]
    features = {
        "observation.state": {"dtype": "float32", "shape": [4], "names": ["a", "b", "c", "d"]},
        "action": {"dtype": "float32", "shape": [4], "names": ["a", "b", "c", "d"]},
        **{key: {"dtype": "video", "shape": [h, w, 3], "names": names} for key, (h, w) in cameras.items()},
        **{
            key: {"dtype": "video", "shape": [h, w, 1], "names": names, "info": {"is_depth_map": True}}
            for key, (h, w) in depths.items()
        },
    }
    dataset = LeRobotDataset.create(
        plan["name"], fps=plan["fps"], features=features, root=plan["root"], robot_type="so101"
    )
    index = 0
    for task, length in plan["episodes"]:
        for _ in range(length):
            frame = {
                "observation.state": (np.sin(np.arange(4) + index * 0.3) * 2).astype(np.float32),
                "action": (np.cos(np.arange(4) * 0.5 + index * 0.2)).astype(np.float32),
                "task": task,
            }
            for camera, (key, (h, w)) in enumerate(cameras.items()):
                frame[key] = camera_picture(index, camera, h, w)
            for key, (h, w) in depths.items():
                frame[key] = depth_picture(index, h, w)
            dataset.add_frame(frame)
            index += 1
        dataset.save_episode()
    dataset.finalize()


def main() -> None:
    logging.getLogger().addHandler(_Collect())
    plan = json.loads(Path(sys.argv[1]).read_text())
    out = Path(plan["out"])
    arrays: dict[str, np.ndarray] = {}
    summary: dict[str, Any] = {"read": {}}
    for dataset in plan.get("write", []):
        write(dataset)
    WARNINGS.clear()  # the writer's own chatter is not about loading
    for entry in plan.get("read", []):
        before = len(WARNINGS)
        summary["read"][entry["name"]] = read(
            entry["name"], entry["root"], entry["indices"], entry.get("delta_timestamps"), arrays
        )
        summary["read"][entry["name"]]["warnings"] = WARNINGS[before:]
    if "edit" in plan:
        summary["edit"] = edit(plan["edit"])
    np.savez(out / "arrays.npz", **arrays)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
