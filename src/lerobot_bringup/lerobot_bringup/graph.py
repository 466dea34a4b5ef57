"""The node graph of the suite, from `config/bringup/<robot>.yaml` and launch arguments (pure Python, no ROS).

One description for both ways of starting it: the launch files (`ros2 launch lerobot bringup.launch.py`) turn
the NodeSpecs into launch_ros actions, the one-process runner (`lerobot-ros-bringup`) instantiates them.

A robot file (each includes `common.yaml`, the nodes every robot shares):

    urdf: urdf/so101.urdf                  # config-relative; empty: no robot_state_publisher, no FK markers
    hardware: urdf/so101.ros2_control.xml  # <ros2_control> tag for controller:=forward|trajectory
    mapping: so101_sim                     # recording profile (config/mappings/<name>.yaml)
    teleop_mapping: so101_sim_teleop       # optional: the recording profile when teleop:=true
    leader: so101_leader                   # robot description of the leader arm for teleop:=true
    include: [common.yaml]
    controllers: {direct: {output: forward, command_topic: /arm/commands}, ...}   # usually in common.yaml
    nodes:
      - name: sim                          # node name; namespace: optional
        package: lerobot_drivers           # `ros2 run <package> <executable>`
        executable: sim
        python: lerobot_drivers.ros.sim_node:SimNode   # our rclpy class; absent for external executables
        start: start                       # plain | start (call .start()) | lifecycle (configure + activate)
        stop: stop                         # method called before the node is destroyed (in-process runner)
        parameters: {image_width: 640, scene: $(config)/sim/so101_cube.xml}
        parameter_files: []                # ROS parameter YAML files (--params-file)
        remappings: {from: to}
        arguments: []                      # extra command-line arguments when started as a process
        when: {record: true}               # included only if every condition holds (see `_holds`)
        note: ...                          # external executables: where to get them
        optional: true                     # or conditions as `when`: if its package is not installed, the
                                           # graph starts without it (a warning); else nothing starts
                                           # (lerobot_bringup.packages)

Strings may use `$(config)` (the config folder, absolute), `$(var NAME)` (a launch argument, a field of the
chosen controller, or a top-level scalar of the robot file) and `$(description)` (the URDF text, with the
ros2_control tag when the controller needs ros2_control).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lerobot_common.config_files import config_dirs
from lerobot_policy_node.outputs import OUTPUTS

START_MODES = ("plain", "start", "lifecycle")
TRUE, FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


@dataclass(frozen=True)
class Argument:
    name: str
    default: str
    description: str
    choices: tuple[str, ...] | None = None


# The launch arguments, one table for the launch files and the runner (the launch files loop over it).
ARGUMENTS: tuple[Argument, ...] = (
    Argument("robot", "sim", "which robot: the simulated arm or a real one", ("sim", "so101", "koch")),
    Argument("policy", "", "checkpoint folder (pretrained_model) or Hub id to run; empty: no policy node"),
    Argument(
        "controller",
        "direct",
        "how policy commands reach the arm, one of the robot's config/bringup `controllers:`: direct (the "
        "driver's arm/commands topic), forward (ros2_control forward_command_controller) or trajectory "
        "(joint_trajectory_controller)",
    ),
    Argument("rviz", "false", "start RViz with config/rviz/lerobot.rviz", ("true", "false")),
    Argument(
        "record", "false", "start the episode recorder (profile: the robot's mapping)", ("true", "false")
    ),
    Argument(
        "teleop", "false", "teleoperate from a leader arm (namespace leader, torque off)", ("true", "false")
    ),
)
# Defaults that differ per launch file: record.launch.py is bringup with teleoperation and the recorder on.
PRESETS: dict[str, dict[str, str]] = {"bringup": {}, "record": {"record": "true", "teleop": "true"}}


def launch_arguments(preset: str = "bringup") -> list[Argument]:
    """ARGUMENTS with the defaults of one launch file (``bringup`` or ``record``)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    return [
        Argument(a.name, PRESETS[preset].get(a.name, a.default), a.description, a.choices) for a in ARGUMENTS
    ]


@dataclass(frozen=True)
class NodeSpec:
    """One node of the graph, as `ros2 run`/launch_ros and the in-process runner both need it."""

    package: str
    executable: str
    name: str
    namespace: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    parameter_files: list[str] = field(default_factory=list)
    remappings: list[tuple[str, str]] = field(default_factory=list)
    arguments: list[str] = field(default_factory=list)
    python: str | None = None  # "module:Class" of our rclpy node; None: an external executable
    start: str = "plain"
    stop: str = ""
    note: str = ""
    optional: bool = False  # the graph may start without it when its package is not installed

    @property
    def full_name(self) -> str:
        namespace = self.namespace.strip("/")
        return f"/{namespace}/{self.name}" if namespace else f"/{self.name}"


class GraphError(ValueError):
    """A launch argument, override or bringup file that cannot make a graph; the message says what to do."""


def find_config_dir() -> Path:
    """The config/ folder with bringup/: the source tree first, then share/lerobot/config of each prefix."""
    for candidate in config_dirs():
        if (candidate / "bringup").is_dir():
            return candidate.resolve()
    looked = ", ".join(str(d) for d in config_dirs())
    raise GraphError(
        f"no config/bringup folder found (looked in {looked}): run from a source checkout, or build the "
        "workspace and source install/setup.bash so that the `lerobot` package's share folder is found"
    )


def parse_command_line(argv: Sequence[str], preset: str = "bringup") -> tuple[dict[str, str], dict[str, str]]:
    """``robot:=sim policy:=ckpt sim.image_width:=128`` → (launch arguments with defaults, overrides)."""
    arguments = {a.name: a.default for a in launch_arguments(preset)}
    overrides: dict[str, str] = {}
    for item in argv:
        name, sep, value = item.partition(":=")
        if not sep or not name:
            raise GraphError(f"expected name:=value, got {item!r} (e.g. robot:=sim, sim.image_width:=320)")
        if name in arguments:
            arguments[name] = value
        elif "." in name:
            overrides[name] = value
        else:
            raise GraphError(
                f"unknown argument {name!r}: arguments are {sorted(arguments)}; set a node's parameter "
                "with <node>.<parameter>:=value"
            )
    return arguments, overrides


def load_graph(
    arguments: Mapping[str, str] | None = None,
    overrides: Mapping[str, str] | None = None,
    config_dir: str | Path | None = None,
) -> list[NodeSpec]:
    """The NodeSpecs for launch ``arguments`` (missing ones take their defaults) and ``<node>.<param>``
    ``overrides`` (values parsed as YAML, like ``-p name:=value``); ``config_dir`` defaults to
    :func:`find_config_dir`."""
    args = {a.name: a.default for a in ARGUMENTS}
    unknown = set(arguments or {}) - set(args)
    if unknown:
        raise GraphError(f"unknown launch arguments {sorted(unknown)}; known: {sorted(args)}")
    args.update({k: str(v) for k, v in (arguments or {}).items()})
    for argument in ARGUMENTS:
        value = args[argument.name]
        if argument.choices is None:
            continue
        if argument.choices == ("true", "false"):
            args[argument.name] = _boolean(argument.name, value)
        elif value not in argument.choices:
            raise GraphError(
                f"unknown {argument.name} {value!r}: choose one of {', '.join(argument.choices)} "
                f"({argument.name}:={argument.choices[0]})"
            )
    config = Path(config_dir).resolve() if config_dir else find_config_dir()
    robot = _load_robot(config, args["robot"])
    controllers = robot.get("controllers", {})
    if args["controller"] not in controllers:
        raise GraphError(
            f"controller {args['controller']!r} is not configured in config/bringup for {args['robot']}; "
            f"choose one of {', '.join(sorted(controllers))}"
        )
    controller = {"output": "", "command_topic": "", "ros2_control": "", **controllers[args["controller"]]}
    if args["policy"] and controller["output"] not in OUTPUTS:
        raise GraphError(
            f"controller {args['controller']!r} of {args['robot']} has output {controller['output']!r}; the "
            f"policy node's outputs are {', '.join(sorted(OUTPUTS))} (lerobot_policy_node/outputs.py)"
        )
    variables = {
        **{k: v for k, v in robot.items() if isinstance(v, str | int | float | bool)},
        **{k: str(v) for k, v in controller.items()},
        **args,
    }
    if args["teleop"] == "true" and robot.get("teleop_mapping"):
        # Teleoperation records the leader's joints as the action, which the robot's own mapping may not.
        variables["mapping"] = str(robot["teleop_mapping"])
    if controller["ros2_control"] and not robot.get("hardware"):
        raise GraphError(
            f"controller:={args['controller']} needs ros2_control, which has no hardware description for "
            f"{args['robot']} (no `hardware:` in its config/bringup file); use controller:=direct"
        )
    if args["policy"] and args["teleop"] == "true":
        raise GraphError("policy and teleop:=true would both command the arm: choose one")
    substitute = _Substitutions(config, variables, robot, bool(controller["ros2_control"]))
    specs = [
        _node_spec(entry, substitute)
        for entry in robot.get("nodes", [])
        if _holds(entry.get("when", {}), variables, entry.get("name", "?"))
    ]
    _check_unique(specs)
    return _apply_overrides(specs, overrides or {})


def external(specs: Sequence[NodeSpec]) -> list[NodeSpec]:
    """The specs of executables that are not our rclpy nodes (robot_state_publisher, rviz2, ros2_control)."""
    return [s for s in specs if s.python is None]


# -- loading ---------------------------------------------------------------------------------------------


def _boolean(name: str, value: str) -> str:
    lowered = str(value).strip().lower()
    if lowered in TRUE:
        return "true"
    if lowered in FALSE:
        return "false"
    raise GraphError(f"{name} must be true or false, got {value!r}")


def _load_robot(config: Path, robot: str) -> dict[str, Any]:
    path = config / "bringup" / f"{robot}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (config / "bringup").glob("*.yaml") if p.stem != "common")
        raise GraphError(f"no bringup file {path}; robots: {', '.join(known)}")
    return _load_with_includes(path, seen=())


def _load_with_includes(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    if path in seen:
        raise GraphError(f"{path}: include cycle through {[str(p) for p in seen]}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise GraphError(f"{path}: not valid YAML: {error}") from error
    if not isinstance(data, dict):
        raise GraphError(f"{path}: expected a mapping at the top level")
    merged: dict[str, Any] = {"nodes": [], "controllers": {}}
    for include in data.pop("include", []):
        included = _load_with_includes(path.parent / include, (*seen, path))
        merged["nodes"] += included.pop("nodes", [])
        merged["controllers"].update(included.pop("controllers", {}))
        merged.update(included)
    # The robot's own nodes come first: drivers start before the nodes that consume their topics.
    merged["nodes"] = list(data.pop("nodes", [])) + merged["nodes"]
    merged["controllers"].update(data.pop("controllers", {}))
    merged.update(data)
    return merged


def _holds(conditions: Mapping[str, Any], variables: Mapping[str, str], node: str) -> bool:
    """``{name: true}``: the variable is set (non-empty, not "false"); ``{name: false}``: it is not;
    ``{name: value}`` or ``{name: [values]}``: it equals (one of) them."""
    for name, wanted in conditions.items():
        if name not in variables:
            raise GraphError(
                f"node {node}: `when` names unknown variable {name!r}; known: {sorted(variables)}"
            )
        value = str(variables[name])
        is_set = value not in ("", "false")
        if isinstance(wanted, bool):
            if is_set != wanted:
                return False
        elif value not in ([str(w) for w in wanted] if isinstance(wanted, list) else [str(wanted)]):
            return False
    return True


class _Substitutions:
    PATTERN = re.compile(r"\$\((config|description|var)(?:\s+([\w.]+))?\)")

    def __init__(
        self, config: Path, variables: Mapping[str, str], robot: Mapping, ros2_control: bool
    ) -> None:
        self.config, self.variables, self.robot, self.ros2_control = config, variables, robot, ros2_control

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.PATTERN.sub(self._replace, value)
        if isinstance(value, list):
            return [self(v) for v in value]
        if isinstance(value, dict):
            return {k: self(v) for k, v in value.items()}
        return value

    def _replace(self, match: re.Match) -> str:
        kind, name = match.groups()
        if kind == "config":
            return str(self.config)
        if kind == "description":
            return self.description()
        if name not in self.variables:
            raise GraphError(f"$(var {name}) is not defined; variables: {sorted(self.variables)}")
        return str(self.variables[name])

    def description(self) -> str:
        """The robot's URDF text; with ros2_control, its <ros2_control> tag inserted before </robot>."""
        if not self.robot.get("urdf"):
            raise GraphError(f"$(description): the bringup file of {self.variables['robot']} sets no urdf")
        urdf = (self.config / self.robot["urdf"]).read_text()
        if not self.ros2_control:
            return urdf
        tag = (self.config / self.robot["hardware"]).read_text()
        end = urdf.rfind("</robot>")
        if end < 0:
            raise GraphError(f"{self.robot['urdf']}: no </robot> closing tag")
        return urdf[:end] + tag + urdf[end:]


def _node_spec(entry: Mapping[str, Any], substitute: _Substitutions) -> NodeSpec:
    required = ("name", "package", "executable")
    missing = [key for key in required if not entry.get(key)]
    if missing:
        raise GraphError(f"bringup node {dict(entry)} lacks {missing}")
    known = {"when", *NodeSpec.__dataclass_fields__}
    unknown = set(entry) - known
    if unknown:
        raise GraphError(
            f"bringup node {entry['name']}: unknown keys {sorted(unknown)}; known: {sorted(known)}"
        )
    start = entry.get("start", "plain")
    if start not in START_MODES:
        raise GraphError(f"bringup node {entry['name']}: start must be one of {START_MODES}, got {start!r}")
    optional = entry.get("optional", False)
    if isinstance(optional, dict):
        optional = _holds(optional, substitute.variables, entry["name"])
    elif not isinstance(optional, bool):
        raise GraphError(
            f"bringup node {entry['name']}: optional must be true, false or conditions like `when`, "
            f"got {optional!r}"
        )
    return NodeSpec(
        package=entry["package"],
        executable=entry["executable"],
        name=substitute(entry["name"]),
        namespace=entry.get("namespace", ""),
        parameters=substitute(dict(entry.get("parameters", {}))),
        parameter_files=substitute(list(entry.get("parameter_files", []))),
        remappings=[(substitute(a), substitute(b)) for a, b in dict(entry.get("remappings", {})).items()],
        arguments=[str(a) for a in substitute(list(entry.get("arguments", [])))],
        python=entry.get("python"),
        start=start,
        stop=entry.get("stop", ""),
        note=substitute(entry.get("note", "")),
        optional=optional,
    )


def _check_unique(specs: Sequence[NodeSpec]) -> None:
    names = [s.full_name for s in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise GraphError(f"two nodes named {duplicates}: give one of them another name or namespace")


def _apply_overrides(specs: list[NodeSpec], overrides: Mapping[str, str]) -> list[NodeSpec]:
    """``<node>.<parameter>`` (node name, or full name without the leading slash) → value parsed as YAML."""
    by_name: dict[str, dict[str, Any]] = {}
    for key, text in overrides.items():
        node, _, parameter = key.partition(".")  # node names have no dots; parameters may
        # A full name (leader/arm) first; a bare name (arm) only when it is unique.
        matches = [s for s in specs if s.full_name.lstrip("/") == node] or [
            s for s in specs if s.name == node
        ]
        if not matches:
            raise GraphError(
                f"override {key}: no node {node!r} in this graph; nodes: "
                f"{', '.join(s.full_name.lstrip('/') for s in specs)}"
            )
        if len(matches) > 1:
            raise GraphError(f"override {key}: {node!r} is ambiguous; use the namespaced name (ns/name)")
        try:
            value = yaml.safe_load(text) if text != "" else ""
        except yaml.YAMLError:
            value = text
        current = matches[0].parameters.get(parameter)
        if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)  # rate:=10 for a double parameter; ROS would refuse the integer
        by_name.setdefault(matches[0].full_name, {})[parameter] = value
    return [
        NodeSpec(**{**s.__dict__, "parameters": {**s.parameters, **by_name[s.full_name]}})
        if s.full_name in by_name
        else s
        for s in specs
    ]
