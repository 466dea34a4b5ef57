"""lerobot-style options: ``--a.b=value`` arguments and JSON/YAML files into nested dicts, and those dicts
into dataclasses with typed values. An unknown key is an error that names it and suggests close matches."""

from __future__ import annotations

import dataclasses
import difflib
import json
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

TRUE_WORDS = ("true", "yes", "on", "1")
FALSE_WORDS = ("false", "no", "off", "0")
NONE_WORDS = ("none", "null", "~")


class OptionError(ValueError):
    """A command-line option or config file entry is unknown, malformed or of the wrong type."""


def unknown_key_error(key: str, known: Sequence[str], where: str) -> OptionError:
    close = difflib.get_close_matches(key.rsplit(".", 1)[-1], list(known), n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return OptionError(f"unknown option {key!r} in {where}{hint} Valid keys there: {sorted(known)}")


def parse_dotted_args(args: Sequence[str]) -> dict[str, str]:
    """``["--policy.type=act", "--steps", "10"]`` → ``{"policy.type": "act", "steps": "10"}``; values stay
    text until their field's type is known."""
    out: dict[str, str] = {}
    index = 0
    while index < len(args):
        arg = args[index]
        if not arg.startswith("--") or len(arg) == 2:
            raise OptionError(f"expected an option like --key=value, got {arg!r}")
        if "=" in arg:
            key, value = arg[2:].split("=", 1)
        elif index + 1 < len(args) and not args[index + 1].startswith("--"):
            key, value = arg[2:], args[index + 1]
            index += 1
        else:
            key, value = arg[2:], "true"  # a bare flag: --resume
        out[key.replace("-", "_")] = value
        index += 1
    return out


def load_config_file(path: str | Path) -> dict[str, Any]:
    """A JSON or YAML file holding a (nested) dict of options."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise OptionError(f"cannot read config file {path} as UTF-8 text: {err}") from err
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise OptionError(
            f"config file {path} is not valid {path.suffix.lstrip('.') or 'YAML'}: {err}"
        ) from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise OptionError(f"config file {path} must hold a mapping of options, got {type(data).__name__}")
    return data


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"policy.type": "act"}`` → ``{"policy": {"type": "act"}}``."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise OptionError(f"option {key!r} sets a sub-key of {part!r}, which already has a value")
            node = child
        node[leaf] = value
    return out


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` on top of ``base``, recursing into dicts present in both."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def coerce(value: Any, annotation: Any, key: str) -> Any:
    """``value`` (text from the command line, or a JSON/YAML value) as the type ``annotation`` declares."""
    if not isinstance(value, str):
        return value
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        choices = typing.get_args(annotation)
        if type(None) in choices and value.strip().lower() in NONE_WORDS:
            return None
        for choice in choices:
            if choice is not type(None):
                try:
                    return coerce(value, choice, key)
                except OptionError:
                    continue
        raise OptionError(f"option {key!r}: cannot read {value!r} as {annotation}")
    if annotation is str or annotation is Any:
        return value
    if annotation is bool:
        word = value.strip().lower()
        if word in TRUE_WORDS or word in FALSE_WORDS:
            return word in TRUE_WORDS
        raise OptionError(f"option {key!r} is true or false, got {value!r}")
    if annotation in (int, float):
        try:
            return annotation(value)
        except ValueError:
            raise OptionError(
                f"option {key!r} needs a{'n int' if annotation is int else ' float'}, got {value!r}"
            ) from None
    # Lists, tuples and dicts: JSON or YAML flow syntax, e.g. [84, 84] or {"VISUAL": "IDENTITY"}.
    try:
        return yaml.safe_load(value)
    except yaml.YAMLError as err:
        raise OptionError(f"option {key!r}: {value!r} is not a list/mapping in JSON or YAML syntax") from err


def field_types(cls: type) -> dict[str, Any]:
    """Declared types of a dataclass's init fields."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}


def build_dataclass(cls: type, data: Mapping[str, Any], where: str) -> Any:
    """An instance of dataclass ``cls`` from ``data``; nested dataclass fields take nested dicts."""
    types_ = field_types(cls)
    kwargs = {}
    for key, value in data.items():
        if key not in types_:
            raise unknown_key_error(f"{where}.{key}" if where else key, list(types_), where or "the options")
        annotation = types_[key]
        path = f"{where}.{key}" if where else key
        if dataclasses.is_dataclass(annotation):
            if not isinstance(value, Mapping):
                raise OptionError(f"option {path!r} is a group: set its keys, e.g. --{path}.<key>=...")
            kwargs[key] = build_dataclass(annotation, value, path)
        else:
            kwargs[key] = coerce(value, annotation, path)
    return cls(**kwargs)
