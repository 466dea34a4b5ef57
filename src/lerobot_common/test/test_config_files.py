"""The one config/ lookup: the source tree first, then `share/lerobot/config` of each AMENT_PREFIX_PATH
prefix, for every kind of config file (scenes, mappings, robot descriptions, bringup graphs)."""

import os
from pathlib import Path

import pytest

from lerobot_common import config_files


@pytest.fixture
def installed_only(tmp_path, monkeypatch) -> Path:
    """No source checkout; an installed config/ in the second of two prefixes. Returns that config/."""
    config = tmp_path / "prefix" / "share" / "lerobot" / "config"
    config.mkdir(parents=True)
    monkeypatch.setattr(config_files, "_SOURCE_CONFIG", tmp_path / "no_checkout")
    monkeypatch.setenv("AMENT_PREFIX_PATH", os.pathsep.join(str(tmp_path / p) for p in ("other", "prefix")))
    return config


def test_source_tree_first():
    checkout = Path(config_files.__file__).resolve().parents[3]
    assert config_files.config_dirs()[0] == checkout / "config"
    assert config_files.find_config("sim/so101_cube.xml") == checkout / "config" / "sim" / "so101_cube.xml"


def test_installed_share_when_there_is_no_checkout(installed_only):
    (installed_only / "sim").mkdir()
    (installed_only / "sim" / "scene.xml").write_text("<mujoco/>")
    assert config_files.find_config("sim/scene.xml") == installed_only / "sim" / "scene.xml"
    with pytest.raises(FileNotFoundError, match="AMENT_PREFIX_PATH"):
        config_files.find_config("sim/missing.xml")


def test_mappings_are_found_through_the_same_lookup(installed_only):
    from lerobot_dataset.mapping import MappingError, load_mapping

    source = Path(config_files.__file__).resolve().parents[3] / "config" / "mappings" / "so101_sim.yaml"
    (installed_only / "mappings").mkdir()
    (installed_only / "mappings" / "so101_sim.yaml").write_text(source.read_text())
    assert load_mapping("so101_sim").name == "so101_sim"
    with pytest.raises(MappingError, match="known: so101_sim"):
        load_mapping("so101")
