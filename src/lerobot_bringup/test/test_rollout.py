"""The evaluation's report without ROS: the Wilson interval of a success rate, the cameras composed side by
side at a watchable size, and a rollout video that plays in real time whatever rate the cameras reached."""

import av
import numpy as np
import pytest

from lerobot_bringup.rollout import FrameComposer, RolloutVideo, success_text, wilson_interval


@pytest.mark.parametrize(
    ("successes", "episodes", "low", "high"),
    [(8, 10, 0.4902, 0.9433), (0, 10, 0.0, 0.2775), (10, 10, 0.7225, 1.0), (16, 20, 0.5840, 0.9193)],
)
def test_wilson_interval_matches_known_values(successes, episodes, low, high):
    assert wilson_interval(successes, episodes) == pytest.approx((low, high), abs=1e-4)


@pytest.mark.parametrize(("successes", "episodes"), [(0, 0), (3, 2), (-1, 5)])
def test_wilson_interval_refuses_impossible_counts(successes, episodes):
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(successes, episodes)


def test_success_text_gives_the_count_the_rate_and_the_interval():
    assert success_text(16, 20) == "success 16/20 = 80 % (95 % CI 58–92 %)"


def test_cameras_are_upscaled_side_by_side_and_a_missing_one_is_black():
    composer = FrameComposer(["front", "wrist"], 240)
    composer.update("front", np.full((96, 128, 3), 200, np.uint8))
    assert composer.size == (640, 240)
    frame = composer.compose()
    assert frame.shape == (240, 640, 3)
    assert (frame[:, :320] == 200).all()
    assert (frame[:, 320:] == 0).all()  # the wrist camera has sent nothing yet

    composer.update("wrist", np.full((48, 128, 3), 100, np.uint8))  # another aspect: fitted, black bars
    frame = composer.compose(["episode 1/20"])
    assert (frame[60:180, 320:] == 100).all() and (frame[:60, 320:] == 0).all()
    assert (frame[:17, :320] != 200).any()  # the caption, over the front camera's panel


def test_composer_refuses_an_odd_height_and_composes_nothing_before_the_first_camera():
    with pytest.raises(ValueError, match="even"):
        FrameComposer(["front"], 241)
    composer = FrameComposer(["front", "wrist"], 240)
    composer.update("wrist", np.zeros((96, 128, 3), np.uint8))
    with pytest.raises(RuntimeError, match="front"):
        composer.compose()


def test_video_holds_each_frame_until_the_next_is_due_and_drops_early_ones(tmp_path):
    composer = FrameComposer(["front"], 48)
    video = RolloutVideo(tmp_path / "out" / "rollout.mp4", 10, composer)
    for episode, seconds, grey in [(0, 0.0, 40), (0, 0.05, 250), (0, 0.35, 120), (1, 0.0, 200)]:
        composer.update("front", np.full((48, 64, 3), grey, np.uint8))
        video.add(episode, seconds)
    assert video.close() == 5

    with av.open(str(tmp_path / "out" / "rollout.mp4")) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(container.streams.video[0])]
    # 0.0 s: one frame; 0.05 s: none due at 10 fps (dropped); 0.35 s: frames 1–3; the next episode restarts
    assert [round(float(f.mean()), -1) for f in frames] == [40, 120, 120, 120, 200]
