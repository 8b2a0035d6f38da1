"""Shared fixtures, and the rule that nothing is skipped under CI.

Locally a test whose dependency is missing (chromium for a non-root `make test`) skips. Under
`CI=true` every skip is reported as a failure instead: a CI run that skipped the browser or
ffmpeg tests would pass without checking what it claims to. Every run ends with a
`skips: N` line so a skip is never silent.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import settings

if TYPE_CHECKING:
    from golive.app import GoliveServer
    from tests.support.postgres_server import PostgresServer
    from tests.support.redis_server import RedisServer

# Node ids (or prefixes of them) that may still skip under CI=true, with the reason. Keep it
# empty: an entry here is a check that CI does not make.
CI_ALLOWED_SKIPS: dict[str, str] = {}

CI_SKIP_FAILURE = "skipped under CI=true"


def running_under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _skip_allowed(nodeid: str) -> bool:
    return any(nodeid.startswith(prefix) for prefix in CI_ALLOWED_SKIPS)


def _skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


def _fail_skip(report: pytest.TestReport | pytest.CollectReport) -> None:
    report.outcome = "failed"
    report.longrepr = (
        f"{CI_SKIP_FAILURE}, which counts as a failure "
        f"(a missing test dependency must be installed in CI): {_skip_reason(report)}"
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    if (
        report.skipped
        and not hasattr(report, "wasxfail")  # an expected failure is not a skip
        and running_under_ci()
        and not _skip_allowed(item.nodeid)
    ):
        _fail_skip(report)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, None]:
    # A module-level pytest.skip / importorskip skips at collection, not in a test.
    outcome = yield
    report: pytest.CollectReport = outcome.get_result()  # type: ignore[attr-defined]
    if report.skipped and running_under_ci() and not _skip_allowed(collector.nodeid):
        _fail_skip(report)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    skipped = len(terminalreporter.stats.get("skipped", []))
    failed = terminalreporter.stats.get("failed", []) + terminalreporter.stats.get("error", [])
    turned = sum(
        1 for report in failed if str(getattr(report, "longrepr", "")).startswith(CI_SKIP_FAILURE)
    )
    mode = "CI=true: skips fail" if running_under_ci() else "CI unset: skips allowed"
    line = f"skips: {skipped} ({mode}"
    if turned:
        line += f"; {turned} skip(s) turned into failures"
    terminalreporter.write_line(line + ")")


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[GoliveServer]:
    from tests.support.server import running_server

    async with running_server(tmp_path / "data", reconnect_grace=2.0) as srv:
        yield srv


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """The `s3://` URL of a bucket on moto's S3 server, on loopback, for the whole session."""
    from tests.support.s3_server import running_s3_server

    with running_s3_server() as srv:
        yield srv.url()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server on loopback for the whole session (``.url``, ``.flush()``)."""
    from tests.support.redis_server import running_redis_server

    with running_redis_server() as srv:
        yield srv


# Hypothesis's 200 ms per-example deadline fails properties at random on a busy 2-core
# machine (an AMF0 property took 425 ms once, 4 ms when retried): time is bounded by the
# number of examples instead.
settings.register_profile("golive", deadline=None)
settings.load_profile("golive")


@pytest.fixture
def golive_env_cleared(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Removes every GOLIVE_* variable and runs in ``tmp_path`` (no golive.toml found)."""
    for name in list(os.environ):
        if name.upper().startswith("GOLIVE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL cluster on loopback for the whole session (``.url(db)``,
    ``.create_database()``, ``.stop()``/``.start()``)."""
    from tests.support.postgres_server import running_postgres_server

    with running_postgres_server() as srv:
        yield srv
