from pathlib import Path

import pytest
import yaml

from kenko.errors import SettingsError
from kenko.settings import EntitySource, Settings, read_settings
from kenko.workspace import settings_template


@pytest.mark.parametrize("model", [Settings, EntitySource])
def test_settings__every_setting_is_documented(model: type) -> None:
    undocumented = [n for n, f in model.model_fields.items() if not f.description]
    assert undocumented == []


def test_settings__template_lists_every_setting_with_its_default() -> None:
    text = settings_template()
    parsed = Settings.model_validate(yaml.safe_load(text))
    assert parsed == Settings()
    for name in Settings.model_fields:
        assert f"\n{name}:" in text


def test_settings__bad_value_names_key_and_value(tmp_path: Path) -> None:
    path = tmp_path / "kenko.yaml"
    path.write_text("timezone: Mars/Olympus\n")
    with pytest.raises(SettingsError) as info:
        read_settings(path)
    assert "timezone" in str(info.value)
    assert "Mars/Olympus" in str(info.value)
    assert str(path) in str(info.value)


def test_settings__unknown_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "kenko.yaml"
    path.write_text("stroe: x.duckdb\n")
    with pytest.raises(SettingsError, match="stroe"):
        read_settings(path)


def test_settings__entity_is_chosen_by_file_name() -> None:
    s = Settings()
    assert s.entity_for(Path("accounts_2024.csv")) == "accounts"
    assert s.entity_for(Path("events.parquet")) == "events"
    assert s.entity_for(Path("line_items.csv.gz")) == "subscriptions"
    assert s.entity_for(Path("other.csv")) is None


def test_settings__every_problem_is_listed_with_key_path_and_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "kenko.yaml"
    path.write_text("stroe: x.duckdb\ntimezone: Mars/Olympus\n")
    with pytest.raises(SettingsError) as info:
        read_settings(path)
    problems = dict(info.value.problems)
    assert "check its spelling" in problems["stroe (line 1)"]
    assert "'Mars/Olympus' is not a time zone" in problems["timezone (line 2)"]
    assert "2 problem(s)" in str(info.value)
