from __future__ import annotations

from pathlib import Path

import pytest

from reelforge.cli import build_parser
from reelforge.settings import SETTINGS, Settings, settings_markdown

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_settings_table_is_generated_from_the_table():
    assert settings_markdown() in README.read_text()


def test_every_setting_is_a_serve_flag():
    help_text = build_parser()._subparsers._group_actions[0].choices["serve"].format_help()
    for s in SETTINGS:
        assert "--" + s.name.replace("_", "-") in help_text
        assert s.env in help_text


def test_flag_beats_env_beats_default():
    env = {"REELFORGE_PORT": "9001", "REELFORGE_WORKERS": "3"}
    s = Settings(overrides={"port": 9002}, environ=env)
    assert s.port == 9002 and s.workers == 3 and s.host == "127.0.0.1"


def test_bad_env_value_names_the_variable():
    with pytest.raises(ValueError, match="REELFORGE_PORT"):
        Settings(environ={"REELFORGE_PORT": "eighty"})


def test_database_defaults_to_sqlite_in_the_data_dir(tmp_path):
    s = Settings(overrides={"data_dir": str(tmp_path)}, environ={})
    assert s.database_url == f"sqlite:///{tmp_path / 'reelforge.db'}"
    assert s.artifacts_path == tmp_path / "artifacts"


def test_resident_model_limits_come_from_the_environment():
    s = Settings(environ={"REELFORGE_MAX_RESIDENT_MODELS": "3", "REELFORGE_MAX_RESIDENT_MEMORY_GB": "70.5"})
    assert (s.max_resident_models, s.max_resident_memory_gb) == (3, 70.5)
    assert Settings(environ={}).max_resident_memory_gb == 0.0  # no budget unless asked
