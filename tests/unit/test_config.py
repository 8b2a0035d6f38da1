"""Settings: defaults, validation, environment variables and the TOML file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from golive.config import ConfigFileError, Settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The developer's own GOLIVE_* variables must not leak into these tests.
    import os

    for name in list(os.environ):
        if name.upper().startswith("GOLIVE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults(tmp_path: Path) -> None:
    s = Settings()
    assert s.host == "0.0.0.0"
    assert (s.rtmp_port, s.http_port) == (1935, 8080)
    assert s.data_dir == tmp_path / "golive-data"
    assert s.data_dir.is_absolute()
    assert s.public_url is None
    assert s.part_target == 0.2
    assert s.segment_target == 1.0
    assert s.live_window_segments == 15
    assert s.reconnect_grace == 10.0
    assert s.keyframe_timeout == 10.0
    assert s.rtmp_handshake_timeout == 10.0
    assert s.rtmp_idle_timeout == 30.0
    assert s.rtmp_max_message_size == 16 * 1024 * 1024
    assert s.rtmp_max_chunk_size == 1024 * 1024
    assert s.rtmp_max_connections == 1000
    assert s.log_level == "info"
    assert s.database_url == f"sqlite+aiosqlite:///{tmp_path / 'golive-data' / 'golive.db'}"
    assert s.config_file is None


def test_settings_construction_does_not_touch_disk(tmp_path: Path) -> None:
    Settings()
    assert not (tmp_path / "golive-data").exists()


def test_every_field_is_documented() -> None:
    for name, field in Settings.model_fields.items():
        assert field.description and len(field.description) > 10, name


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GOLIVE_RTMP_PORT", "1936")
    monkeypatch.setenv("GOLIVE_HOST", "127.0.0.1")
    monkeypatch.setenv("GOLIVE_LOG_LEVEL", "WARNING")
    monkeypatch.setenv("GOLIVE_DATA_DIR", "media")
    monkeypatch.setenv("GOLIVE_PART_TARGET", "0.5")
    s = Settings()
    assert s.rtmp_port == 1936
    assert s.host == "127.0.0.1"
    assert s.log_level == "warning"
    assert s.data_dir == tmp_path / "media"
    assert s.database_url.endswith(f"{tmp_path / 'media' / 'golive.db'}")
    assert s.part_target == 0.5


def test_keyword_arguments_override_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOLIVE_HTTP_PORT", "9000")
    assert Settings().http_port == 9000
    assert Settings(http_port=9001).http_port == 9001


def test_unknown_environment_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOLIVE_NOT_A_SETTING", "1")
    Settings()


def test_explicit_database_url_is_kept(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://golive@db/golive"
    assert Settings(database_url=url, data_dir=tmp_path / "x").database_url == url


def test_relative_data_dir_is_fixed_at_startup(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    s = Settings(data_dir=Path("rel"))
    monkeypatch.chdir("/")
    assert s.data_dir == tmp_path / "rel"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"part_target": 0.05},
        {"part_target": 2.5},
        {"part_target": 0.6, "segment_target": 1.0},
        {"segment_target": 0.3},
        {"segment_target": 60},
        {"rtmp_port": 70000},
        {"http_port": -1},
        {"rtmp_port": 8080, "http_port": 8080},
        {"live_window_segments": 2},
        {"reconnect_grace": -1},
        {"keyframe_timeout": 0},
        {"rtmp_handshake_timeout": 0},
        {"rtmp_idle_timeout": -5},
        {"rtmp_max_message_size": 17 * 1024 * 1024},
        {"rtmp_max_message_size": 1000},
        {"rtmp_max_chunk_size": 64},
        {"rtmp_max_connections": 0},
        {"log_level": "loud"},
        {"host": ""},
        {"public_url": "ftp://example.com"},
        {"public_url": "example.com"},
        {"rtmp_public_url": "http://example.com/live"},
        {"no_such_setting": 1},
    ],
)
def test_invalid_values_are_rejected(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Settings(**kwargs)


def test_invalid_environment_value_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOLIVE_RTMP_PORT", "not-a-port")
    with pytest.raises(ValidationError):
        Settings()


def test_boundaries_are_accepted() -> None:
    s = Settings(part_target=0.3, segment_target=0.6, live_window_segments=3, reconnect_grace=0)
    assert s.segment_target == 0.6
    Settings(part_target=0.1, segment_target=0.2)
    Settings(part_target=2.0, segment_target=4.0)
    Settings(rtmp_port=0, http_port=0)


def test_default_urls_use_loopback_for_wildcard_host() -> None:
    s = Settings()
    assert s.http_base_url == "http://127.0.0.1:8080"
    assert s.rtmp_base_url == "rtmp://127.0.0.1:1935/live"
    assert s.rtmp_publish_url("live_abc") == "rtmp://127.0.0.1:1935/live/live_abc"
    assert s.watch_url("demo") == "http://127.0.0.1:8080/demo"


@pytest.mark.parametrize(
    ("host", "shown"),
    [
        ("::", "[::1]"),
        ("192.168.1.5", "192.168.1.5"),
        ("fd00::5", "[fd00::5]"),
        ("media.lan", "media.lan"),
    ],
)
def test_urls_for_specific_hosts(host: str, shown: str) -> None:
    s = Settings(host=host, http_port=80, rtmp_port=1940)
    assert s.watch_url("a") == f"http://{shown}:80/a"
    assert s.rtmp_publish_url("k") == f"rtmp://{shown}:1940/live/k"


def test_public_urls() -> None:
    s = Settings(public_url="https://live.example.com/")
    assert s.public_url == "https://live.example.com"
    assert s.watch_url("demo") == "https://live.example.com/demo"
    # RTMP is not proxied like HTTP: same host name, but the RTMP port.
    assert s.rtmp_publish_url("k") == "rtmp://live.example.com:1935/live/k"

    s = Settings(
        public_url="https://live.example.com", rtmp_public_url="rtmp://in.example.com/app/"
    )
    assert s.rtmp_base_url == "rtmp://in.example.com/app"
    assert s.rtmp_publish_url("k") == "rtmp://in.example.com/app/k"


def test_empty_public_url_means_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOLIVE_PUBLIC_URL", "")
    assert Settings().public_url is None


def write_toml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_toml_file_is_loaded(tmp_path: Path) -> None:
    cfg = write_toml(
        tmp_path / "golive.toml",
        'rtmp_port = 1940\nlog_level = "debug"\ndata_dir = "/srv/golive"\npart_target = 0.25\n',
    )
    s = Settings(config_file=cfg)
    assert s.config_file == cfg
    assert s.rtmp_port == 1940
    assert s.log_level == "debug"
    assert s.data_dir == Path("/srv/golive")
    assert s.part_target == 0.25


def test_toml_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = write_toml(tmp_path / "golive.toml", "rtmp_port = 1940\nhttp_port = 9000\nhost = 'h'\n")
    monkeypatch.setenv("GOLIVE_RTMP_PORT", "1950")
    s = Settings(config_file=cfg, host="cli")
    assert s.http_port == 9000  # file over default
    assert s.rtmp_port == 1950  # environment over file
    assert s.host == "cli"  # keyword argument over everything


def test_toml_file_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = write_toml(tmp_path / "golive.toml", "http_port = 9100\n")
    monkeypatch.setenv("GOLIVE_CONFIG_FILE", str(cfg))
    s = Settings()
    assert s.http_port == 9100
    assert s.config_file == cfg


def test_toml_unknown_key_is_rejected(tmp_path: Path) -> None:
    cfg = write_toml(tmp_path / "golive.toml", "rtmp_prot = 1940\n")
    with pytest.raises(ValidationError, match="rtmp_prot"):
        Settings(config_file=cfg)


def test_toml_invalid_value_is_rejected(tmp_path: Path) -> None:
    cfg = write_toml(tmp_path / "golive.toml", "live_window_segments = 1\n")
    with pytest.raises(ValidationError, match="live_window_segments"):
        Settings(config_file=cfg)


def test_toml_cannot_name_another_config_file(tmp_path: Path) -> None:
    cfg = write_toml(tmp_path / "golive.toml", "config_file = 'other.toml'\n")
    with pytest.raises(ConfigFileError):
        Settings(config_file=cfg)


def test_missing_toml_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="cannot read"):
        Settings(config_file=tmp_path / "missing.toml")


def test_malformed_toml_file(tmp_path: Path) -> None:
    cfg = write_toml(tmp_path / "golive.toml", "rtmp_port = \n")
    with pytest.raises(ConfigFileError, match="invalid TOML"):
        Settings(config_file=cfg)
