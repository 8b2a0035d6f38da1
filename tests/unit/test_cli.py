"""The golive command line, in-process and as a real subprocess."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path

import pytest

import golive
from golive.cli import main
from golive.config import Settings

KEY_RE = re.compile(r"^Stream key:\s+(\S+)$", re.MULTILINE)


@pytest.fixture(autouse=True)
def clean_env(golive_env_cleared: None) -> None:
    """No GOLIVE_* variable of the machine running the tests reaches these settings."""


def run_golive(
    *args: str, env: dict[str, str] | None = None, module: str = "golive.cli"
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.upper().startswith("GOLIVE_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )


# Subprocess: what an operator actually runs


@pytest.mark.timeout(60)
def test_channel_lifecycle(tmp_path: Path) -> None:
    data = str(tmp_path / "data")

    added = run_golive("channel", "add", "news", "--data-dir", data)
    assert added.returncode == 0, added.stderr
    key = KEY_RE.search(added.stdout)
    assert key is not None
    key_text = key.group(1)
    assert key_text.startswith("live_")
    assert f"rtmp://127.0.0.1:1935/live/{key_text}" in added.stdout
    assert "http://127.0.0.1:8080/news" in added.stdout
    assert (tmp_path / "data" / "golive.db").is_file()

    listed = run_golive("channel", "list", "--data-dir", data)
    assert listed.returncode == 0, listed.stderr
    assert "news" in listed.stdout
    assert key_text[:9] in listed.stdout
    assert key_text not in listed.stdout

    rotated = run_golive("channel", "rotate-key", "news", "--data-dir", data)
    assert rotated.returncode == 0, rotated.stderr
    new_key = KEY_RE.search(rotated.stdout)
    assert new_key is not None and new_key.group(1) != key_text
    assert f"/live/{new_key.group(1)}" in rotated.stdout


@pytest.mark.timeout(60)
def test_errors_are_one_line_with_status_1(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    assert run_golive("channel", "add", "dup", "--data-dir", data).returncode == 0
    for args in (
        ("channel", "add", "dup"),
        ("channel", "add", "Bad Name"),
        ("channel", "add", "short", "--key", "tooshort"),
        ("channel", "add", "short", "--key", "k" * 31),
        ("channel", "rotate-key", "ghost"),
    ):
        result = run_golive(*args, "--data-dir", data)
        assert result.returncode == 1, args
        assert result.stdout == ""
        assert result.stderr.startswith("golive: error: ")
        assert result.stderr.count("\n") == 1, result.stderr


@pytest.mark.timeout(60)
def test_environment_overrides(tmp_path: Path) -> None:
    env = {
        "GOLIVE_DATA_DIR": str(tmp_path / "envdata"),
        "GOLIVE_RTMP_PORT": "1940",
        "GOLIVE_PUBLIC_URL": "https://live.example.com",
    }
    result = run_golive(
        "channel", "add", "envchan", "--key", "env-chosen-key-42-and-long-enough", env=env
    )
    assert result.returncode == 0, result.stderr
    assert "rtmp://live.example.com:1940/live/env-chosen-key-42-and-long-enough" in result.stdout
    assert "https://live.example.com/envchan" in result.stdout
    assert (tmp_path / "envdata" / "golive.db").is_file()

    # --data-dir beats GOLIVE_DATA_DIR.
    other = tmp_path / "flagdata"
    result = run_golive("channel", "list", "--data-dir", str(other), env=env)
    assert result.returncode == 0, result.stderr
    assert "envchan" not in result.stdout
    assert (other / "golive.db").is_file()


@pytest.mark.timeout(60)
def test_invalid_environment_value(tmp_path: Path) -> None:
    result = run_golive(
        "channel", "list", env={"GOLIVE_DATA_DIR": str(tmp_path), "GOLIVE_RTMP_PORT": "99999"}
    )
    assert result.returncode == 1
    assert result.stderr.startswith("golive: error: invalid settings: rtmp_port")
    assert result.stderr.count("\n") == 1


@pytest.mark.timeout(60)
def test_python_dash_m_golive_and_version() -> None:
    result = run_golive("--version", module="golive")
    assert result.returncode == 0
    assert result.stdout.strip() == f"golive {golive.__version__}"


# In-process: option parsing and serve


def test_channel_add_in_process(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(
        ["channel", "add", "inproc", "--title", "Hello", "--data-dir", str(tmp_path / "d")]
    )
    assert status == 0
    out = capsys.readouterr().out
    assert "Created channel 'inproc'" in out
    assert main(["channel", "list", "--data-dir", str(tmp_path / "d")]) == 0
    assert "Hello" in capsys.readouterr().out


def test_empty_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["channel", "list", "--data-dir", str(tmp_path / "d")]) == 0
    assert "No channels" in capsys.readouterr().out


def test_config_file_for_channel_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "golive.toml"
    cfg.write_text(f"data_dir = '{tmp_path / 'tomldata'}'\nhttp_port = 8888\n")
    assert main(["channel", "add", "t", "--config", str(cfg)]) == 0
    assert "http://127.0.0.1:8888/t" in capsys.readouterr().out
    assert (tmp_path / "tomldata" / "golive.db").is_file()


def test_missing_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["channel", "list", "--config", str(tmp_path / "nope.toml")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("golive: error: cannot read config file")


def test_unusable_data_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert main(["channel", "list", "--data-dir", str(blocker / "sub")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("golive: error: ") and err.count("\n") == 1


def test_missing_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2


@pytest.fixture
def fake_app(monkeypatch: pytest.MonkeyPatch) -> list[Settings]:
    """Stands in for golive.app so serve can be tested without the server."""
    received: list[Settings] = []
    module = types.ModuleType("golive.app")

    def run(
        settings: Settings,
        reload: Callable[[], Settings] | None = None,
        *,
        worker_ready_fd: int | None = None,
    ) -> int:
        assert worker_ready_fd is None  # only worker_processes.py's children get one
        received.append(settings)
        if reload is not None:
            # SIGHUP re-reads the same sources and gets the same answer.
            assert reload() == settings
        return 7

    module.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "golive.app", module)
    return received


def test_serve_passes_options(fake_app: list[Settings], tmp_path: Path) -> None:
    status = main(
        [
            "serve",
            "--host",
            "127.0.0.1",
            "--rtmp-port",
            "1941",
            "--http-port",
            "8081",
            "--data-dir",
            str(tmp_path / "srv"),
            "--public-url",
            "https://tv.example.org",
            "--log-level",
            "debug",
        ]
    )
    assert status == 7
    (settings,) = fake_app
    assert settings.host == "127.0.0.1"
    assert (settings.rtmp_port, settings.http_port) == (1941, 8081)
    assert settings.data_dir == tmp_path / "srv"
    assert settings.public_url == "https://tv.example.org"
    assert settings.log_level == "debug"


def test_serve_defaults_from_environment(
    fake_app: list[Settings], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GOLIVE_HTTP_PORT", "9090")
    monkeypatch.setenv("GOLIVE_SEGMENT_TARGET", "2.0")
    assert main(["serve", "--rtmp-port", "1942"]) == 7
    (settings,) = fake_app
    assert settings.http_port == 9090
    assert settings.rtmp_port == 1942
    assert settings.segment_target == 2.0
    assert settings.data_dir == tmp_path / "golive-data"
    assert settings.config_file is None


def test_serve_config_file(fake_app: list[Settings], tmp_path: Path) -> None:
    cfg = tmp_path / "golive.toml"
    cfg.write_text("reconnect_grace = 3.5\nrtmp_port = 1950\n")
    assert main(["serve", "--config", str(cfg), "--rtmp-port", "1951"]) == 7
    (settings,) = fake_app
    assert settings.config_file == cfg
    assert settings.reconnect_grace == 3.5
    assert settings.rtmp_port == 1951


def test_serve_rejects_invalid_settings(
    fake_app: list[Settings], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--rtmp-port", "8080"]) == 1
    assert fake_app == []
    err = capsys.readouterr().err
    assert err == "golive: error: invalid settings: rtmp_port and http_port must differ\n"


def test_serve_workers_need_redis(
    fake_app: list[Settings], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = main(["serve", "--workers", "2", "--data-dir", str(tmp_path)])
    assert code == 1
    assert "workers > 1 needs redis_url" in capsys.readouterr().err
    assert fake_app == []


def test_serve_one_worker_runs_in_process(fake_app: list[Settings], tmp_path: Path) -> None:
    assert main(["serve", "--workers", "1", "--data-dir", str(tmp_path)]) == 7
    (settings,) = fake_app
    assert settings.workers == 1 and settings.worker_count == 1


def test_workers_default_to_one_per_core_only_with_redis(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 6)
    assert Settings(data_dir=tmp_path).worker_count == 1
    clustered = Settings(data_dir=tmp_path, redis_url="redis://127.0.0.1:6379/0")
    assert clustered.worker_count == 6 and clustered.clustered
    assert Settings(data_dir=tmp_path, redis_url="redis://h:1/0", workers=2).worker_count == 2


def test_cluster_urls_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="redis_url must be a redis://"):
        Settings(data_dir=tmp_path, redis_url="http://127.0.0.1:6379")
    with pytest.raises(ValueError, match="node_url must be an http"):
        Settings(data_dir=tmp_path, redis_url="redis://h:1/0", node_url="node-a:8080")
    assert Settings(data_dir=tmp_path, node_url="http://10.0.0.2:8080/").node_url == (
        "http://10.0.0.2:8080"
    )
