"""A throwaway PostgreSQL cluster on loopback, for the tests that run golive on PostgreSQL.

`running_postgres_server()` runs Debian's ``initdb`` into a temporary folder and starts the
cluster with ``pg_ctl`` on 127.0.0.1 and a free port (its unix socket inside that folder too,
durability off: a test database is not worth an fsync), and stops it on exit, even when the
tests fail. `url(database)` is the ``postgresql+asyncpg://`` URL of one of its databases;
`create_database(name)` makes an empty one, so each test gets its own; `stop()` and
`start()` take the server away and bring it back on the same port with its data (an
outage). The session fixture `postgres_server` in tests/conftest.py yields one such server;
`fresh_database_url` gives a test the URL of a new, empty database of either backend.

initdb and postgres refuse to run as root: as root they run as the `postgres` system user
(created by the Debian package), with the folder handed to it.

Without the binaries the tests skip locally and fail under `CI=true` (`require_postgres`).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.loopback import free_port, missing_dependency

START_TIMEOUT_S = 30
SUPERUSER = "golive"
DEFAULT_DATABASE = "golive"
# The backends a parametrized database fixture runs over (see fresh_database_url).
DATABASE_BACKENDS = ("sqlite", "postgresql")

# A test cluster's data may be lost on a crash; these make start-up and every commit cheap.
SPEED_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    # The tests create a database per test: many small ones, no need to log their pages.
    "wal_level": "minimal",
    "max_wal_senders": "0",
}


def postgres_bin_dir() -> Path | None:
    """The newest installed server's bin directory (Debian: /usr/lib/postgresql/<v>/bin)."""
    found = []
    for initdb in glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        version = Path(initdb).parent.parent.name
        if version.isdigit():
            found.append((int(version), Path(initdb).parent))
    if found:
        return max(found)[1]
    initdb_on_path = shutil.which("initdb")
    return Path(initdb_on_path).parent if initdb_on_path else None


def require_postgres() -> Path:
    """The server's bin directory; skip without it, and under CI=true fail (CI must test it)."""
    bin_dir = postgres_bin_dir()
    if bin_dir is not None and all(
        (bin_dir / name).exists() for name in ("initdb", "pg_ctl", "postgres", "psql")
    ):
        return bin_dir
    message = "PostgreSQL server binaries not found (apt-get install postgresql)"
    missing_dependency(message)


def _server_account() -> pwd.struct_passwd | None:
    """The account the server runs as: None for the current user, `postgres` under root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError(
            "running as root, and there is no `postgres` user to run PostgreSQL as"
        ) from None


class PostgresServer:
    """One cluster in ``folder``; the port stays the same across stop() and start()."""

    def __init__(self, bin_dir: Path, folder: Path) -> None:
        self.bin_dir = bin_dir
        self.folder = folder
        self.data_dir = folder / "data"
        self.socket_dir = folder / "socket"
        self.log_file = folder / "postgres.log"
        self.port = free_port()
        self._account = _server_account()
        self.running = False

    def url(self, database: str = DEFAULT_DATABASE) -> str:
        return f"postgresql+asyncpg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, timeout: float = START_TIMEOUT_S, check: bool = True) -> None:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self._account is not None:
            command = ["runuser", "-u", self._account.pw_name, "--", *command]
        result = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            # The server's account may not be allowed into the caller's working directory.
            cwd=self.folder,
        )
        if check and result.returncode != 0:
            log = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
            raise RuntimeError(
                f"{' '.join(args)} failed ({result.returncode}): "
                f"{result.stdout}{result.stderr}\n{log[-4000:]}"
            )

    def init(self) -> None:
        """Create the cluster: trusted loopback connections, the `golive` superuser."""
        self.socket_dir.mkdir()
        if self._account is not None:
            for path in (self.folder, self.socket_dir):
                os.chown(path, self._account.pw_uid, self._account.pw_gid)
        self._run(
            "initdb",
            "--pgdata",
            str(self.data_dir),
            "--username",
            SUPERUSER,
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--locale",
            "C",
            "--no-sync",
        )
        settings = {
            **SPEED_SETTINGS,
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.socket_dir}'",
        }
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("".join(f"{key} = {value}\n" for key, value in settings.items()))

    def start(self) -> None:
        assert not self.running, "already running"
        try:
            self._run(
                "pg_ctl",
                "start",
                "--wait",
                "--pgdata",
                str(self.data_dir),
                "--log",
                str(self.log_file),
            )
        except BaseException:
            # A start that timed out may still bring a server up later: leave none behind.
            self._run(
                "pg_ctl", "stop", "--mode", "immediate", "--pgdata", str(self.data_dir), check=False
            )
            raise
        self.running = True

    def stop(self) -> None:
        """Stop the server (fast shutdown: open connections are closed)."""
        if not self.running:
            return
        self.running = False
        self._run("pg_ctl", "stop", "--wait", "--mode", "fast", "--pgdata", str(self.data_dir))

    def psql(self, sql: str, database: str = "postgres") -> None:
        self._run(
            "psql",
            "--no-psqlrc",
            "--quiet",
            "--set",
            "ON_ERROR_STOP=1",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--username",
            SUPERUSER,
            "--dbname",
            database,
            "--command",
            sql,
        )

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database (a random name if none is given) and return its name."""
        name = name or f"test_{uuid.uuid4().hex[:16]}"
        # FILE_COPY: copying template1's few files is faster than logging every page.
        self.psql(f'CREATE DATABASE "{name}" STRATEGY = FILE_COPY')
        return name

    def drop_database(self, name: str) -> None:
        """Drop a database, closing what is still connected to it (a test's leftovers)."""
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def running_postgres_server() -> Iterator[PostgresServer]:
    bin_dir = require_postgres()
    with tempfile.TemporaryDirectory(prefix="golive-postgres-") as folder:
        server = PostgresServer(bin_dir, Path(folder))
        server.init()
        server.start()
        try:
            server.create_database(DEFAULT_DATABASE)
            yield server
        finally:
            server.stop()


def fresh_database_url(backend: str, request: pytest.FixtureRequest, folder: Path) -> str:
    """The URL of a new, empty database of ``backend`` (one of DATABASE_BACKENDS): a SQLite
    file in ``folder``, or a database of its own on the session's PostgreSQL server,
    dropped when the fixture that asked for it (``request``) is torn down (each one copies
    template1's few megabytes)."""
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{folder / 'golive.db'}"
    assert backend == "postgresql", backend
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = server.create_database()

    def drop() -> None:
        if server.running:  # a test that ended in an outage leaves it to the session's end
            server.drop_database(name)

    request.addfinalizer(drop)
    return server.url(name)
