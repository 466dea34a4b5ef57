"""The README's statements about defaults agree with the code's."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def readme_sentence(pattern: str) -> str:
    """The first match of ``pattern`` (group 1) in the README, whitespace collapsed across line breaks."""
    match = re.search(pattern, " ".join(README.split()))
    assert match, f"the README no longer says {pattern!r}"
    return match.group(1)


def test_converter_workers_default():
    from lerobot_recorder.convert_cli import parser

    action = next(a for a in parser()._actions if "--workers" in a.option_strings)
    assert action.default == max(1, (os.cpu_count() or 1) // 4)
    stated = readme_sentence(r"\(`--workers`, default: ([^,;)]+)")
    assert stated in " ".join(action.help.split()), f"README: {stated!r}; --help: {action.help!r}"


@pytest.mark.parametrize("policy_type", ["act", "diffusion"])
def test_backbone_weights_default(policy_type):
    from lerobot_training.policies import make_policy_config

    stated = readme_sentence(r"`pretrained_backbone_weights: ([\w.]+)`")
    assert make_policy_config(policy_type).pretrained_backbone_weights == stated
