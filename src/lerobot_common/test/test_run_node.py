"""run_node and the parameter table: --help lists the table, options named after a parameter override it,
the others reach spin, configuration errors are one line and a status, parameters are read-only."""

import argparse

import pytest

pytest.importorskip("rclpy")

from rclpy.node import Node
from rclpy.parameter import Parameter

from lerobot_common.ros.parameters import declare_parameters, parameters_help
from lerobot_common.ros.run import run_node

PARAMETERS = {
    "name": ("arm", "what the probe is called"),
    "count": (2, "how many"),
    "joints": (Parameter.Type.STRING_ARRAY, "joints; empty: all"),
}


class Probe(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("probe", **kwargs)
        self.values = declare_parameters(self, PARAMETERS)
        if self.values["count"] < 0:
            raise ValueError("count must not be negative")


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name")
    parser.add_argument("--loud", action="store_true")


def run(args: list[str], seen: dict) -> int:
    def spin(node: Probe, parsed: argparse.Namespace) -> None:
        seen.update(node.values, loud=parsed.loud)
        described = node.describe_parameters(list(PARAMETERS))
        seen["descriptions"] = [d.description for d in described]
        seen["refused"] = not node.set_parameters([Parameter("count", value=5)])[0].successful

    return run_node("probe", Probe, (ValueError,), ["probe", *args], parameters=PARAMETERS, options=options,
                    spin=spin, error_status=3)  # fmt: skip


def test_options_named_after_a_parameter_override_it_and_the_others_reach_spin():
    seen: dict = {}
    assert run(["--name", "leader", "--loud", "--ros-args", "-p", "count:=4"], seen) == 0
    assert seen["name"] == "leader" and seen["count"] == 4 and seen["loud"] is True
    assert seen["joints"] is None  # declared with a type and no value


def test_an_empty_option_keeps_the_default():
    seen: dict = {}
    assert run(["--name", ""], seen) == 0
    assert seen["name"] == "arm" and seen["loud"] is False


def test_parameters_are_declared_with_their_descriptions_and_read_only():
    seen: dict = {}
    run([], seen)
    assert seen["descriptions"] == [text for _, text in PARAMETERS.values()]
    assert seen["refused"]


def test_a_configuration_error_is_one_line_and_the_error_status(capsys):
    assert run(["--ros-args", "-p", "count:=-1"], {}) == 3
    assert capsys.readouterr().err == "probe: count must not be negative\n"


def test_help_lists_every_parameter_and_starts_nothing(capsys):
    with pytest.raises(SystemExit) as exit_:
        run(["--help"], {})
    assert exit_.value.code == 0
    shown = "".join(capsys.readouterr().out.split())
    assert "".join(parameters_help(PARAMETERS, 80).split()) in shown
    assert "joints(string_array,unset):joints;empty:all" in shown


def test_an_unknown_option_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_:
        run(["--nmae", "x"], {})
    assert exit_.value.code == 2
    assert "--nmae" in capsys.readouterr().err
