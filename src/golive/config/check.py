"""`golive config check FILE`: every problem of a TOML settings file, with the line it is on."""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from golive.config.settings import Settings
from golive.store.object_store_url import redact_object_store_url

_KEY_LINE = re.compile(r"""^\s*(?:"([^"]+)"|'([^']+)'|([A-Za-z0-9_-]+))\s*=""")
_TABLE_LINE = re.compile(r"^\s*\[+\s*([^\]]+?)\s*\]+")
_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column \d+\)")


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One problem found in a settings file; ``line`` is 1-based, or None if not tied to one."""

    line: int | None
    key: str | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        key = f"{self.key}: " if self.key else ""
        return f"{where}{key}{self.message}"


class _FileOnlySettings(Settings):
    """The Settings model fed from keyword arguments alone: no environment, no file."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def key_lines(text: str) -> dict[str, int]:
    """Line numbers of the top-level keys and tables of a TOML document (first occurrence).

    tomllib reports no positions, so keys are found by scanning: enough for flat settings
    files, which is what golive reads.
    """
    lines: dict[str, int] = {}
    in_table = False
    in_multiline: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if in_multiline is not None:
            if in_multiline in line:
                in_multiline = None
            continue
        table = _TABLE_LINE.match(line)
        if table is not None:
            in_table = True
            lines.setdefault(table.group(1).split(".")[0].strip().strip("\"'"), number)
            continue
        if in_table:
            continue
        key = _KEY_LINE.match(line)
        if key is not None:
            name = next(g for g in key.groups() if g is not None)
            lines.setdefault(name, number)
            for quote in ('"""', "'''"):
                if line.count(quote) == 1:
                    in_multiline = quote
    return lines


def check_config_file(path: Path) -> list[ConfigProblem]:
    """Every unknown key and invalid value in ``path``; empty when the file is valid."""
    try:
        text = path.expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        return [ConfigProblem(None, None, f"cannot read {path}: {exc.strerror or exc}")]
    except UnicodeDecodeError:
        return [ConfigProblem(None, None, f"{path} is not UTF-8 text")]
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        position = _TOML_POSITION.search(str(exc))
        line = int(position.group(1)) if position else None
        message = _TOML_POSITION.sub("", str(exc))
        return [ConfigProblem(line, None, f"invalid TOML: {message}")]
    lines = key_lines(text)
    problems: list[ConfigProblem] = []
    if "config_file" in data:
        problems.append(
            ConfigProblem(lines.get("config_file"), "config_file", "cannot be set in a config file")
        )
        del data["config_file"]
    try:
        settings = _FileOnlySettings(**data)
    except ValidationError as exc:
        problems += _problems_from(exc, data, lines)
    else:
        problems += _file_problems(settings, lines)
    return sorted(problems, key=lambda p: (p.line or 0, p.key or ""))


def _problems_from(
    exc: ValidationError, data: dict[str, Any], lines: dict[str, int]
) -> list[ConfigProblem]:
    problems = []
    fields = list(Settings.model_fields)
    for error in exc.errors(include_url=False):
        loc = error["loc"]
        key = str(loc[0]) if loc else None
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden" and key is not None:
            message = "unknown setting"
            close = difflib.get_close_matches(key, fields, n=1)
            if close:
                message += f" (did you mean {close[0]}?)"
        elif key == "recording_storage" and isinstance(data.get(key), str):
            message += f" (got {redact_object_store_url(data[key])!r})"
        elif key is not None and key in data:
            message += f" (got {data[key]!r})"
        if key is None:
            # A rule between settings: point at the first setting the message names.
            named = [name for name in data if re.search(rf"\b{re.escape(name)}\b", message)]
            key = named[0] if named else None
        problems.append(ConfigProblem(lines.get(key) if key else None, key, message))
    return problems


def _file_problems(settings: Settings, lines: dict[str, int]) -> list[ConfigProblem]:
    """Checks a running server would only fail at startup: files that must exist."""
    problems = []
    for key in ("rtmps_cert_file", "rtmps_key_file"):
        value = getattr(settings, key)
        if value is not None and not Path(value).expanduser().is_file():
            problems.append(ConfigProblem(lines.get(key), key, f"no such file: {value}"))
    return problems
