"""Shared fixtures."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from golive.app import GoliveServer


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[GoliveServer]:
    from tests.support.server import running_server

    async with running_server(tmp_path / "data", reconnect_grace=2.0) as srv:
        yield srv
