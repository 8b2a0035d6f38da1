"""Server settings, read from ``GOLIVE_*`` environment variables and an optional TOML file."""

from __future__ import annotations

import ipaddress
import os
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

ENV_PREFIX = "GOLIVE_"
MIB = 1024 * 1024

LogLevel = Literal["debug", "info", "warning", "error", "critical"]


class ConfigFileError(ValueError):
    """The TOML configuration file is missing, unreadable or not valid TOML."""


class Settings(BaseSettings):
    """Everything an operator can tune, validated once at startup.

    Precedence, highest first: keyword arguments (the command line), ``GOLIVE_*`` environment
    variables, the TOML file named by ``config_file``, then the defaults below.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        # A typo in the TOML file or a keyword argument should fail loudly, not be ignored.
        extra="forbid",
        validate_default=True,
    )

    host: str = Field(
        default="0.0.0.0",
        min_length=1,
        description="Address the RTMP and HTTP servers listen on (0.0.0.0 for every IPv4 interface).",
    )
    rtmp_port: int = Field(
        default=1935,
        ge=0,
        le=65535,
        description="RTMP ingest port (0 lets the OS pick a free port).",
    )
    http_port: int = Field(
        default=8080,
        ge=0,
        le=65535,
        description="HTTP port for the player, HLS and the API (0 lets the OS pick a free port).",
    )
    data_dir: Path = Field(
        default=Path("golive-data"),
        description="Directory for the database, live segments and recordings; created if missing. "
        "Relative paths are resolved against the working directory at startup.",
    )
    public_url: str | None = Field(
        default=None,
        description="Base URL viewers use to reach the HTTP server, e.g. https://live.example.com, "
        "used in printed and displayed URLs. Default: http://<host>:<http_port>, with a wildcard "
        "host (0.0.0.0, ::) shown as the loopback address.",
    )
    rtmp_public_url: str | None = Field(
        default=None,
        description="Base RTMP URL publishers use, e.g. rtmp://live.example.com:1935/live. "
        "Default: rtmp://<public_url host or host>:<rtmp_port>/live.",
    )
    part_target: float = Field(
        default=0.2,
        ge=0.1,
        le=2.0,
        description="Target duration of a low-latency HLS partial segment, in seconds.",
    )
    segment_target: float = Field(
        default=1.0,
        ge=0.2,
        le=30.0,
        description="Target duration of an HLS segment, in seconds; at least twice part_target. "
        "Segments are cut at keyframes, so the encoder's keyframe interval should divide it.",
    )
    live_window_segments: int = Field(
        default=15,
        ge=3,
        le=1000,
        description="Number of complete segments kept in the live playlist (and in memory). "
        "Longer than six target durations so that LL-HLS delta updates (_HLS_skip) pay off.",
    )
    reconnect_grace: float = Field(
        default=10.0,
        ge=0.0,
        le=3600.0,
        description="Seconds a stream stays live for viewers after its publisher drops, so a "
        "publisher that reconnects within this time continues the same stream.",
    )
    keyframe_timeout: float = Field(
        default=10.0,
        gt=0.0,
        le=600.0,
        description="Seconds a publisher may send video without a keyframe before it is disconnected.",
    )
    rtmp_handshake_timeout: float = Field(
        default=10.0,
        gt=0.0,
        le=300.0,
        description="Seconds an RTMP client has to complete the handshake and start publishing.",
    )
    rtmp_idle_timeout: float = Field(
        default=30.0,
        gt=0.0,
        le=3600.0,
        description="Seconds without any data from an RTMP client before it is disconnected.",
    )
    rtmp_max_message_size: int = Field(
        default=16 * MIB,
        ge=64 * 1024,
        le=16 * MIB,
        description="Largest RTMP message accepted, in bytes (the protocol's 24-bit length field "
        "caps it at 16 MiB). Larger messages close the connection.",
    )
    rtmp_max_chunk_size: int = Field(
        default=1 * MIB,
        ge=128,
        le=16 * MIB,
        description="Largest chunk size a publisher may announce with Set Chunk Size, in bytes.",
    )
    rtmp_max_connections: int = Field(
        default=1000,
        ge=1,
        le=1_000_000,
        description="Maximum simultaneous RTMP connections; further connections are refused.",
    )
    log_level: LogLevel = Field(
        default="info", description="Logging level: debug, info, warning, error or critical."
    )
    database_url: str = Field(
        default="",
        description="SQLAlchemy async database URL. "
        "Default: sqlite+aiosqlite:///<data_dir>/golive.db.",
    )
    config_file: Path | None = Field(
        default=None,
        description="TOML file with settings as top-level keys named like the fields here "
        "(e.g. rtmp_port = 1936); environment variables override it.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML file is found through the two sources that outrank it; neither dotenv nor
        # secret files are configured, so they are left out.
        path: Any = None
        if isinstance(init_settings, InitSettingsSource):
            path = init_settings.init_kwargs.get("config_file")
        if path is None:
            path = os.environ.get(f"{ENV_PREFIX}CONFIG_FILE") or None
        toml = _TomlFileSource(settings_cls, Path(path) if path is not None else None)
        return (init_settings, env_settings, toml)

    @field_validator("log_level", mode="before")
    @classmethod
    def _lowercase_level(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        # Fixed at startup so a later chdir cannot move the database or the media.
        return value.expanduser().absolute()

    @field_validator("public_url", "rtmp_public_url")
    @classmethod
    def _check_base_url(cls, value: str | None, info: Any) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        scheme = "rtmp" if info.field_name == "rtmp_public_url" else "http"
        parts = urlsplit(value)
        allowed = ("rtmp", "rtmps") if scheme == "rtmp" else ("http", "https")
        if parts.scheme not in allowed or not parts.hostname:
            raise ValueError(f"must be an absolute {' or '.join(allowed)} URL")
        return value

    @model_validator(mode="after")
    def _check_consistency(self) -> Settings:
        if self.segment_target < 2 * self.part_target - 1e-9:
            raise ValueError(
                f"segment_target ({self.segment_target}) must be at least twice "
                f"part_target ({self.part_target})"
            )
        if self.rtmp_port != 0 and self.rtmp_port == self.http_port:
            raise ValueError("rtmp_port and http_port must differ")
        if not self.database_url.strip():
            # Assigned here rather than in a default factory because it depends on data_dir.
            self.database_url = f"sqlite+aiosqlite:///{self.data_dir / 'golive.db'}"
        return self

    @property
    def display_host(self) -> str:
        """The listen host as it can appear in a URL; wildcards become the loopback address.

        Loopback is chosen over the machine's hostname because it is always correct on the
        server itself, while a hostname often does not resolve elsewhere; ``public_url`` is the
        setting for anything else.
        """
        host = self.host.strip("[]")
        if host in ("", "0.0.0.0"):
            return "127.0.0.1"
        if host == "::":
            return "[::1]"
        try:
            if ipaddress.ip_address(host).version == 6:
                return f"[{host}]"
        except ValueError:
            pass
        return host

    @property
    def http_base_url(self) -> str:
        """Base URL of the HTTP server without a trailing slash."""
        if self.public_url:
            return self.public_url
        return f"http://{self.display_host}:{self.http_port}"

    @property
    def rtmp_base_url(self) -> str:
        """The RTMP URL a publisher connects to, without the stream key (OBS's "Server")."""
        if self.rtmp_public_url:
            return self.rtmp_public_url
        host = self.display_host
        if self.public_url:
            name = urlsplit(self.public_url).hostname or host
            host = f"[{name}]" if ":" in name else name
        return f"rtmp://{host}:{self.rtmp_port}/live"

    def rtmp_publish_url(self, stream_key: str) -> str:
        """The full RTMP URL including the stream key, for ffmpeg-style publishers."""
        return f"{self.rtmp_base_url}/{stream_key}"

    def watch_url(self, channel_name: str) -> str:
        """The page where viewers watch a channel."""
        return f"{self.http_base_url}/{channel_name}"


class _TomlFileSource(PydanticBaseSettingsSource):
    """Settings from a flat TOML file, below environment variables in precedence."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls)
        self._path = path

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        # Unused: __call__ returns the whole file at once.
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        if self._path is None:
            return {}
        try:
            with self._path.expanduser().open("rb") as f:
                data = tomllib.load(f)
        except OSError as exc:
            raise ConfigFileError(
                f"cannot read config file {self._path}: {exc.strerror or exc}"
            ) from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigFileError(f"invalid TOML in {self._path}: {exc}") from exc
        if "config_file" in data:
            raise ConfigFileError(f"{self._path}: config_file cannot be set inside a config file")
        return data
