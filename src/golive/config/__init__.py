"""golive's settings: what they are and how they are read (``settings``), checking a
settings file (``check``, `golive config check`) and the generated reference
(``reference``, docs/configuration.md). The package re-exports what the rest of golive
imports: ``from golive.config import Settings``."""

from golive.config.settings import (
    ENV_PREFIX,
    LIVE_RELOADABLE,
    MIB,
    ConfigFileError,
    LogFormat,
    LogLevel,
    PublishDecision,
    Settings,
    SignupMode,
)

__all__ = [
    "ENV_PREFIX",
    "LIVE_RELOADABLE",
    "MIB",
    "ConfigFileError",
    "LogFormat",
    "LogLevel",
    "PublishDecision",
    "Settings",
    "SignupMode",
]
