"""One ffmpeg child process: FLV in on stdin, one FLV pipe out per rendition.

Everything is non-blocking on the event loop: stdin is an asyncio write transport whose
buffer the caller watches (and sheds on); every output pipe is an asyncio read pipe whose
bytes go straight to a callback. The child gets its own session (a Ctrl-C in the server's
terminal is the server's to handle, not ffmpeg's) and dies with the server (PDEATHSIG).
It runs ``nice`` steps below the server (its own priority and its session's autogroup): when encoding wants more CPU than the machine has,
the kernel gives it to the server first, so the source rendition (ingest and packaging in
the server process) stays on time while the encoders fall behind and get shed.
Whatever happens, the process is waited for: no zombies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import deque
from collections.abc import Callable, Sequence

from golive.transcode.parent_death import child_preexec

__all__ = ["FfmpegChild", "child_setup"]

log = logging.getLogger("golive.transcode")

OutputCallback = Callable[[int, bytes], None]
EofCallback = Callable[[int], None]
_STDERR_LINES = 20


class _OutputPipe(asyncio.Protocol):
    def __init__(self, index: int, on_data: OutputCallback, on_eof: EofCallback) -> None:
        self._index = index
        self._on_data = on_data
        self._on_eof = on_eof
        self._done = False

    def data_received(self, data: bytes) -> None:
        self._on_data(self._index, data)

    def eof_received(self) -> bool | None:
        self._finish()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish()

    def _finish(self) -> None:
        if not self._done:
            self._done = True
            self._on_eof(self._index)


def child_setup(nice: int) -> Callable[[], None] | None:
    """What runs in the child before exec: lower its priority, tie its life to ours."""
    die_with_parent = child_preexec()
    if nice <= 0:
        return die_with_parent

    def run() -> None:
        os.nice(nice)
        # With the kernel's autogroups, the child's new session is a scheduling group of its
        # own, weighed against the server's as a whole: its members' nice values alone would
        # not lower it. The group gets the same nice (raising it needs no privilege). The
        # session must be the child's own before that: uvloop runs this before its setsid, and
        # the write would lower the server's group instead (encoders then came before the
        # source rendition). asyncio's setsid has run already: EPERM, ignored.
        with contextlib.suppress(OSError):
            os.setsid()
        with contextlib.suppress(OSError), open("/proc/self/autogroup", "w") as group:
            group.write(str(nice))
        if die_with_parent is not None:
            die_with_parent()

    return run


class FfmpegChild:
    """A running transcoder process. Create it with :meth:`spawn`."""

    def __init__(
        self,
        proc: asyncio.subprocess.Process,
        outputs: list[asyncio.ReadTransport],
        log_extra: dict[str, object],
    ) -> None:
        self._proc = proc
        self._outputs = outputs
        self._log_extra = log_extra
        self.stderr_tail: deque[str] = deque(maxlen=_STDERR_LINES)
        self._stderr_task = asyncio.create_task(self._read_stderr())
        self._stopping = False

    @classmethod
    async def spawn(
        cls,
        build_argv: Callable[[Sequence[int]], list[str]],
        outputs: int,
        *,
        on_data: OutputCallback,
        on_eof: EofCallback,
        log_extra: dict[str, object] | None = None,
        nice: int = 0,
    ) -> FfmpegChild:
        """Start the child; ``build_argv`` gets the child's output descriptors, in order.

        ``nice``: how many steps below this process's priority the child runs (0: the same).
        """
        loop = asyncio.get_running_loop()
        pipes = [os.pipe() for _ in range(outputs)]
        write_fds = [w for _, w in pipes]
        try:
            proc = await asyncio.create_subprocess_exec(
                *build_argv(write_fds),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                pass_fds=write_fds,
                preexec_fn=child_setup(nice),
                start_new_session=True,
            )
        except BaseException:
            for r, w in pipes:
                os.close(r)
                os.close(w)
            raise
        for w in write_fds:
            os.close(w)  # the child holds them now; EOF comes when it exits
        transports: list[asyncio.ReadTransport] = []
        for index, (r, _) in enumerate(pipes):
            transport, _ = await loop.connect_read_pipe(
                lambda i=index: _OutputPipe(i, on_data, on_eof),  # type: ignore[misc]
                os.fdopen(r, "rb", buffering=0),
            )
            transports.append(transport)
        return cls(proc, transports, dict(log_extra or {}))

    # -- state --------------------------------------------------------------------------------

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode

    @property
    def stopping(self) -> bool:
        """True once the server asked the child to finish (input closed or killed)."""
        return self._stopping

    @property
    def accepting(self) -> bool:
        """Whether input can still be written."""
        stdin = self._proc.stdin
        return stdin is not None and not stdin.transport.is_closing() and not self._stopping

    @property
    def write_buffer_size(self) -> int:
        """Bytes written but not yet taken by the child."""
        stdin = self._proc.stdin
        return stdin.transport.get_write_buffer_size() if stdin is not None else 0

    # -- control ------------------------------------------------------------------------------

    def write(self, data: bytes) -> bool:
        """Queue input without blocking; False if the child no longer takes input."""
        if not self.accepting:
            return False
        stdin = self._proc.stdin
        assert stdin is not None
        stdin.write(data)
        return True

    def close_input(self) -> None:
        """End of input: the child encodes what it has, closes its outputs and exits."""
        self._stopping = True
        stdin = self._proc.stdin
        if stdin is not None and not stdin.transport.is_closing():
            stdin.close()

    def kill(self) -> None:
        self._stopping = True
        if self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()

    async def wait(self) -> int:
        """Wait for the process to exit (it is reaped) and its stderr to be read."""
        code = await self._proc.wait()
        with contextlib.suppress(Exception):
            await self._stderr_task
        return code

    # -- internals ----------------------------------------------------------------------------

    async def _read_stderr(self) -> None:
        """Keep reading stderr to the end (a full pipe would stall the child); keep the tail."""
        stream = self._proc.stderr
        if stream is None:
            return
        pending = b""
        while True:
            data = await stream.read(65536)
            if not data:
                break
            *lines, pending = (pending + data).split(b"\n")
            pending = pending[-4096:]
            for line in lines:
                self._note(line)
        self._note(pending)

    def _note(self, line: bytes) -> None:
        text = line.decode(errors="replace").rstrip()[:500]
        if text:
            self.stderr_tail.append(text)
            log.debug("ffmpeg %d: %s", self.pid, text, extra=self._log_extra)
