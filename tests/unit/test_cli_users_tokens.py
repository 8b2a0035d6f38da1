"""`golive user` and `golive token`: how an operator bootstraps API access."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from golive.cli import main
from golive.config import Settings
from golive.db.api_tokens import ApiTokenStore
from golive.db.engine import Database

TOKEN_RE = re.compile(r"^Token:\s+(glt_\S+)$", re.MULTILINE)


@pytest.fixture(autouse=True)
def clean_env(golive_env_cleared: None) -> None:
    """No GOLIVE_* variable of the machine running the tests reaches these settings."""


def authenticate(data: Path, secret: str) -> object:
    async def check() -> object:
        db = await Database.open(Settings(data_dir=data))
        try:
            return await ApiTokenStore(db.sessionmaker).authenticate(secret)
        finally:
            await db.close()

    return asyncio.run(check())


def test_bootstrap_an_administrator(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = ["--data-dir", str(tmp_path / "d")]
    assert main(["user", "add", "alice", "--admin", "--display-name", "Alice", *data]) == 0
    assert "Created administrator 'alice'" in capsys.readouterr().out
    assert main(["user", "add", "bob", *data]) == 0
    capsys.readouterr()
    assert main(["user", "list", *data]) == 0
    listed = capsys.readouterr().out
    assert re.search(r"alice\s+yes", listed) and "bob" in listed

    assert main(["token", "create", "alice", "--scope", "admin", "--name", "ops", *data]) == 0
    out = capsys.readouterr().out
    secret = TOKEN_RE.search(out)
    assert secret is not None
    principal = authenticate(tmp_path / "d", secret.group(1))
    assert principal is not None and principal.is_admin  # type: ignore[attr-defined]

    assert main(["token", "list", *data]) == 0
    listed = capsys.readouterr().out
    assert secret.group(1) not in listed and "active" in listed
    token_id = listed.splitlines()[1].split()[0]
    assert main(["token", "revoke", token_id, *data]) == 0
    assert "revoked" in capsys.readouterr().out
    assert authenticate(tmp_path / "d", secret.group(1)) is None


def test_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = ["--data-dir", str(tmp_path / "d")]
    assert main(["user", "add", "bob", *data]) == 0
    capsys.readouterr()
    for args in (
        ["user", "add", "bob"],
        ["user", "add", "Not Valid"],
        ["token", "create", "ghost", "--scope", "read"],
        ["token", "create", "bob", "--scope", "admin"],  # bob is no administrator
        ["token", "revoke", "999"],
    ):
        assert main([*args, *data]) == 1, args
        err = capsys.readouterr().err
        assert err.startswith("golive: error: ") and err.count("\n") == 1, err
