"""A node that fails to start stops the ones already started: create_nodes runs their stop method (the
cameras' close: capture thread joined, device released) before destroying them, so nothing keeps running.
Real camera nodes on a real video file, a real recorder refusing an unknown profile."""

import threading

import av
import numpy as np
import pytest

from lerobot_bringup.graph import load_graph
from lerobot_bringup.ros.run import create_nodes

pytestmark = pytest.mark.ros

WIDTH, HEIGHT, FPS = 64, 48, 30


@pytest.fixture
def video_file(tmp_path) -> str:
    path = tmp_path / "gray.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        frame = av.VideoFrame.from_ndarray(np.full((HEIGHT, WIDTH, 3), 128, np.uint8), format="rgb24")
        for _ in range(FPS):
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return str(path)


def capture_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "camera-capture"]


def test_a_node_failing_to_start_stops_the_nodes_started_before_it(ros_context, video_file):
    camera = {"device": video_file, "width": WIDTH, "height": HEIGHT, "fps": float(FPS)}
    overrides = {
        f"{side}/camera.{name}": str(value) for side in ("front", "wrist") for name, value in camera.items()
    }
    specs = load_graph(
        {"robot": "so101", "record": "true"}, {**overrides, "recorder.profile": "no_such_profile"}
    )
    # The arm needs a serial port: the cameras start, then the recorder fails on its profile.
    specs = [s for s in specs if s.full_name in ("/front/camera", "/wrist/camera", "/recorder")]
    assert [s.full_name for s in specs] == ["/front/camera", "/wrist/camera", "/recorder"]
    assert not capture_threads()
    with pytest.raises(Exception, match="no_such_profile"):
        create_nodes(specs, context=ros_context)
    survivors = capture_threads()
    assert not survivors, f"{len(survivors)} camera capture threads still run after the failed start"
