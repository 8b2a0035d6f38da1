"""`golive config check`, the generated settings reference and the generated API reference."""

from __future__ import annotations

from pathlib import Path

import pytest

from golive.cli import main
from golive.config import LIVE_RELOADABLE, Settings
from golive.config.check import check_config_file, key_lines
from golive.config.reference import (
    BEGIN_MARKER,
    END_MARKER,
    documented_reference,
    render_reference,
)
from golive.http.api.app import build_openapi, create_api
from golive.http.api.reference import render_markdown

DOCS = Path(__file__).resolve().parents[2] / "docs"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "golive.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_file_has_no_problems(tmp_path: Path) -> None:
    path = write(tmp_path, '# comment\nhost = "127.0.0.1"\nrtmp_port = 1940\nlog_format = "json"\n')
    assert check_config_file(path) == []


def test_unknown_keys_and_bad_values_with_their_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "# golive\n"
        "rtmp_prot = 1940\n"
        'http_port = "abc"\n'
        "\n"
        'log_level = "loud"\n'
        "live_window_segments = 1\n"
        "[webhooks]\n"
        'url = "x"\n',
    )
    problems = {(p.line, p.key): p.message for p in check_config_file(path)}
    assert problems.keys() == {
        (2, "rtmp_prot"),
        (3, "http_port"),
        (5, "log_level"),
        (6, "live_window_segments"),
        (7, "webhooks"),
    }
    assert "did you mean rtmp_port" in problems[(2, "rtmp_prot")]
    assert "'abc'" in problems[(3, "http_port")]


def test_rules_between_settings_point_at_a_line(tmp_path: Path) -> None:
    path = write(tmp_path, "segment_target = 1.0\npart_target = 0.9\n")
    [problem] = check_config_file(path)
    assert problem.line in (1, 2) and "twice" in problem.message
    path = write(tmp_path, 'x = 1\nwebhook_url = "https://h.example/x"\n')
    problems = check_config_file(path)
    assert [p.key for p in problems] == ["x"]  # field errors first, then the rest
    path = write(tmp_path, 'webhook_url = "https://h.example/x"\nwebhook_secret = "short"\n')
    [problem] = check_config_file(path)
    assert "webhook_secret" in problem.message and problem.line in (1, 2)


def test_files_that_must_exist(tmp_path: Path) -> None:
    path = write(tmp_path, 'rtmps_cert_file = "/nope/cert.pem"\nrtmps_key_file = "/nope/key.pem"\n')
    assert [(p.line, p.key) for p in check_config_file(path)] == [
        (1, "rtmps_cert_file"),
        (2, "rtmps_key_file"),
    ]


def test_toml_syntax_errors_and_missing_files(tmp_path: Path) -> None:
    [problem] = check_config_file(write(tmp_path, "a = 1\nb = \n"))
    assert problem.line == 2 and "invalid TOML" in problem.message
    [problem] = check_config_file(tmp_path / "missing.toml")
    assert "cannot read" in problem.message


def test_environment_does_not_hide_file_problems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOLIVE_RTMP_PORT", "1")
    [problem] = check_config_file(write(tmp_path, "rtmp_port = 99999\n"))
    assert problem.key == "rtmp_port"


def test_key_lines_skip_tables_and_multiline_strings() -> None:
    text = 'a = 1\nb = """\nc = 2\n"""\n"quoted" = 3\n[t]\nd = 4\n'
    assert key_lines(text) == {"a": 1, "b": 2, "quoted": 5, "t": 6}


def test_cli_exit_status_and_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, "rtmp_port = 1940\n")
    assert main(["config", "check", str(good)]) == 0
    assert "OK" in capsys.readouterr().out
    bad = write(tmp_path, "rtmp_port = 1940\nrtmp_prot = 1\n")
    assert main(["config", "check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:2: rtmp_prot: unknown setting" in err


def test_reloadable_settings_exist() -> None:
    assert LIVE_RELOADABLE.issubset(Settings.model_fields)


def test_configuration_doc_matches_the_settings_model() -> None:
    document = (DOCS / "configuration.md").read_text(encoding="utf-8")
    assert documented_reference(document) == render_reference(), (
        "docs/configuration.md is out of date: golive config reference --write docs/configuration.md"
    )
    for name in Settings.model_fields:
        assert f"`{name}`" in document


def test_api_doc_matches_the_code() -> None:
    openapi = build_openapi(create_api(None))  # type: ignore[arg-type]
    assert (DOCS / "api.md").read_text(encoding="utf-8") == render_markdown(openapi), (
        "docs/api.md is out of date: python -m golive.http.api.reference > docs/api.md"
    )


def test_reference_write_updates_only_the_generated_part(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = tmp_path / "configuration.md"
    doc.write_text(f"# intro\n\n{BEGIN_MARKER}\nstale\n{END_MARKER}\n\nafter\n")
    assert main(["config", "reference", "--write", str(doc)]) == 0
    text = doc.read_text()
    assert text.startswith("# intro\n\n") and text.endswith("\nafter\n")
    assert documented_reference(text) == render_reference()
    assert main(["config", "reference", "--write", str(tmp_path / "nope.md")]) == 1
