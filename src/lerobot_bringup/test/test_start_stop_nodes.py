"""start_nodes activates a lifecycle node with `ready_to_activate` (the policy node) once, when it is ready,
and asks a node without it again until it accepts; both only become ready while start_nodes spins them.
stop_nodes saves the recorder's episode in progress, and stops an idle recorder without complaint."""

import pytest
from rclpy.executors import SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn

from lerobot_bringup.graph import NodeSpec, load_graph
from lerobot_bringup.ros.run import create_nodes, start_nodes, stop_nodes

pytestmark = pytest.mark.ros

TICK_S = 0.05


class Counting(LifecycleNode):
    """Refuses activation (as the policy node without observations) until its timer fired ``ticks`` times."""

    def __init__(self, name: str, ticks: int, **kwargs) -> None:
        super().__init__(name, **kwargs)
        self.needed, self.ticks, self.attempts = ticks, 0, 0
        self.create_timer(TICK_S, self._tick)

    def _tick(self) -> None:
        self.ticks += 1

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.attempts += 1
        if self.ticks < self.needed:
            return TransitionCallbackReturn.FAILURE
        return super().on_activate(state)


class Announcing(Counting):
    @property
    def ready_to_activate(self) -> bool:
        return self.ticks >= self.needed


def run(nodes: list[LifecycleNode], context, timeout: float) -> None:
    specs = [
        NodeSpec(package="p", executable="e", name=n.get_name(), python="test:Node", start="lifecycle")
        for n in nodes
    ]
    executor = SingleThreadedExecutor(context=context)
    try:
        start_nodes(specs, nodes, executor, timeout=timeout)
    finally:
        stop_nodes(specs, nodes)
        executor.shutdown()


def test_a_ready_to_activate_node_is_activated_once_and_others_are_retried(ros_context):
    announcing = Announcing("announcing", ticks=5, context=ros_context)
    # Ready about 1 s after start: refused at least once (retried every ACTIVATE_RETRY_S), then accepted.
    counting = Counting("counting", ticks=round(1.0 / TICK_S), context=ros_context)
    run([announcing, counting], ros_context, timeout=10.0)
    assert announcing.attempts == 1, "activation was tried before the node was ready"
    assert counting.attempts >= 2


def test_a_node_that_never_gets_ready_is_an_error_without_a_refused_activation(ros_context):
    node = Announcing("never", ticks=10**9, context=ros_context)
    with pytest.raises(RuntimeError, match=r"/never did not activate within 1 s \(not ready"):
        run([node], ros_context, timeout=1.0)
    assert node.attempts == 0


@pytest.mark.parametrize("recording", [True, False])
def test_stopping_the_recorder_saves_its_episode(ros_context, tmp_path, capsys, recording):
    specs = [
        s
        for s in load_graph({"record": "true"}, {"recorder.output_dir": str(tmp_path)})
        if s.name == "recorder"
    ]
    (recorder,) = create_nodes(specs, context=ros_context)
    if recording:
        recorder.start()
    stop_nodes(specs, [recorder])
    assert "stopping /recorder" not in capsys.readouterr().err
    bags = sorted(tmp_path.glob("episode_*"))
    assert [(b.name, (b / "metadata.yaml").is_file()) for b in bags] == (
        [("episode_000000", True)] if recording else []
    )
