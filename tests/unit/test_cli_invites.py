"""`golive invite create` / `list`: codes printed once, good for one claim."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from golive.cli import main
from golive.config import Settings
from golive.db.engine import Database
from golive.db.invites import InviteStore


@pytest.fixture(autouse=True)
def clean_env(golive_env_cleared: None) -> None:
    """No GOLIVE_* variable of the machine running the tests reaches these settings."""


def claim(data: Path, code: str) -> bool:
    async def run() -> bool:
        db = await Database.open(Settings(data_dir=data))
        try:
            return await InviteStore(db.sessionmaker).claim(code)
        finally:
            await db.close()

    return asyncio.run(run())


def test_invite_codes_are_printed_once_and_claimed_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = ["--data-dir", str(tmp_path / "d")]
    assert main(["invite", "create", "--count", "2", *data]) == 0
    codes = re.findall(r"^\s+(gli_\S+)$", capsys.readouterr().out, re.MULTILINE)
    assert len(codes) == 2 and codes[0] != codes[1]
    assert claim(tmp_path / "d", codes[0])
    assert not claim(tmp_path / "d", codes[0])  # used up
    assert not claim(tmp_path / "d", "gli_made-up")
    assert main(["invite", "list", *data]) == 0
    listing = capsys.readouterr().out
    assert codes[0] not in listing and codes[0][:10] in listing  # hints only
    assert listing.count("yes") == 1
    assert main(["invite", "create", "--count", "0", *data]) == 1
