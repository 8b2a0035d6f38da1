"""A real ``varnishd`` with the shipped edge VCL (deploy/edge/varnish/golive.vcl), in front of
one origin on loopback, for the edge tests and bench/cluster.py.

`running_varnish(origin_port, folder)` writes the shipped VCL with the origin's port put in,
starts varnishd in the foreground (``-F``) with its working directory in ``folder`` on a free
port, waits until it accepts connections and stops it on exit. What reached the origin is read
from Varnish's own shared-memory log: a ``varnishlog`` started with it writes every
``BereqURL`` record (one per backend request) to a file as it happens (`backend_urls`), so
nothing sits between the edge and the origin to add delay of its own, and a busy edge does not
wrap the log before it is read.

As root, varnishd is started with ``-j none``: its default jail would run the workers as the
``vcache`` user, who cannot read a private temporary folder.

Without varnishd the tests skip locally and fail under ``CI=true`` (`require_varnishd`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.loopback import free_port, missing_dependency

REPO = Path(__file__).resolve().parents[2]
SHIPPED_VCL = REPO / "deploy" / "edge" / "varnish" / "golive.vcl"
START_TIMEOUT = 20.0
_BACKEND_PORT = re.compile(r'(\.port\s*=\s*)"\d+"')
_BACKEND_HOST = re.compile(r'(\.host\s*=\s*)"[^"]*"')


def varnish_binaries() -> tuple[str, str, str] | None:
    """varnishd, varnishlog and varnishstat, or None if any is missing."""
    found = []
    for name in ("varnishd", "varnishlog", "varnishstat"):
        path = shutil.which(name) or next(
            (f"{d}/{name}" for d in ("/usr/sbin", "/usr/bin") if Path(f"{d}/{name}").exists()),
            None,
        )
        if path is None:
            return None
        found.append(path)
    return found[0], found[1], found[2]


def require_varnishd() -> tuple[str, str, str]:
    """The Varnish binaries; skip without them, and under CI=true fail (CI must test them)."""
    binaries = varnish_binaries()
    if binaries is not None:
        return binaries
    message = "varnishd is not installed (apt-get install varnish)"
    missing_dependency(message)


def vcl_for_origin(origin_port: int, origin_host: str = "127.0.0.1") -> str:
    """The shipped VCL with its backend pointed at ``origin_host:origin_port``."""
    text = SHIPPED_VCL.read_text()
    text, ports = _BACKEND_PORT.subn(rf'\g<1>"{origin_port}"', text, count=1)
    text, hosts = _BACKEND_HOST.subn(rf'\g<1>"{origin_host}"', text, count=1)
    assert ports == hosts == 1, "the shipped VCL has no backend .host/.port to set"
    return text


@dataclass
class VarnishEdge:
    """A running varnishd: its port, working directory and tools."""

    port: int
    workdir: Path
    varnishlog: str
    varnishstat: str
    proc: asyncio.subprocess.Process
    backend_log: Path  # the BereqURL records, as varnishlog writes them

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def backend_urls(self) -> list[str]:
        """Every URL the edge asked the origin for so far, in order."""
        await asyncio.sleep(0.1)  # varnishlog writes each record unbuffered, a moment later
        if not self.backend_log.exists():
            return []
        text = self.backend_log.read_text(errors="replace")
        assert "overrun" not in text.lower(), "varnishlog fell behind the log"
        urls = []
        for line in text.splitlines():
            fields = line.split(None, 3)
            if len(fields) == 4 and fields[1] == "BereqURL":
                urls.append(fields[3])
        return urls

    async def counter(self, name: str) -> int:
        """One varnishstat counter, e.g. ``MAIN.backend_req``."""
        proc = await asyncio.create_subprocess_exec(
            self.varnishstat,
            "-n",
            str(self.workdir),
            "-1",
            "-f",
            name,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, err.decode(errors="replace")
        for line in out.decode().splitlines():
            fields = line.split()
            if fields and fields[0] == name:
                return int(fields[1])
        raise KeyError(name)


async def compile_vcl(vcl: Path) -> tuple[int, str]:
    """``varnishd -C -f vcl``: its exit code and error output."""
    varnishd, _, _ = require_varnishd()
    # As root, the default jail reads the file as Varnish's own user, which a private
    # temporary checkout (mode 0700, as CI's) does not let in.
    jail = ["-j", "none"] if os.geteuid() == 0 else []
    proc = await asyncio.create_subprocess_exec(
        varnishd,
        *jail,
        "-C",
        "-f",
        str(vcl),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, err.decode(errors="replace")


READY_PATH = "/live/edge-log-ready"


async def _until_following(edge: VarnishEdge) -> None:
    """Until varnishlog is attached: it logs a request made for that (which reaches the
    origin, a 404 there)."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
        writer.write(
            f"GET {READY_PATH} HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\r\n".encode()
        )
        await reader.read()
        writer.close()
        if READY_PATH in await edge.backend_urls():
            return
        if time.monotonic() > deadline:
            raise TimeoutError("varnishlog did not attach")
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def running_varnish(
    origin_port: int,
    folder: Path,
    *,
    params: Sequence[str] = (),
    storage: str = "malloc,64m",
) -> AsyncIterator[VarnishEdge]:
    """varnishd with the shipped VCL in front of ``127.0.0.1:origin_port``; ``params``:
    extra ``name=value`` run-time parameters (``-p``)."""
    varnishd, varnishlog, varnishstat = require_varnishd()
    folder.mkdir(parents=True, exist_ok=True)
    vcl = folder / "golive.vcl"
    vcl.write_text(vcl_for_origin(origin_port))
    workdir = folder / "varnish"
    port = free_port()
    args = [varnishd, "-F", "-n", str(workdir), "-a", f"127.0.0.1:{port}"]
    args += ["-f", str(vcl), "-s", storage]
    if os.geteuid() == 0:
        args += ["-j", "none"]
    for param in params:
        args += ["-p", param]
    log_path = folder / "varnishd.log"
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.returncode is not None:
                raise RuntimeError(f"varnishd exited: {log_path.read_text(errors='replace')}")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError("varnishd did not start") from None
                await asyncio.sleep(0.05)
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            break
        backend_log = folder / "backend-urls.log"
        follower = await asyncio.create_subprocess_exec(
            varnishlog,
            "-n",
            str(workdir),
            "-g",
            "raw",
            "-i",
            "BereqURL",
            "-A",
            "-u",
            "-w",
            str(backend_log),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
        edge = VarnishEdge(port, workdir, varnishlog, varnishstat, proc, backend_log)
        try:
            await _until_following(edge)
            yield edge
        finally:
            if follower.returncode is None:
                follower.terminate()
                await follower.wait()
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
