"""A thin ctypes binding to libsrt 1.5 (Haivision's SRT library): only what the listener uses.

Constants are from libsrt's public headers (srt.h, access_control.h of 1.5). Every call that
fails raises ``SrtError`` with libsrt's own description (``srt_getlasterror_str``) and code.
The library is loaded by soname (the Debian package ``libsrt1.5-openssl``); a missing library
is an ``SrtUnavailable`` saying what to install.

libsrt's error state is per thread, so the description is read on the thread that failed.
"""

from __future__ import annotations

import ctypes
import socket
import struct
import threading
from collections.abc import Callable
from functools import cache
from typing import Any

__all__ = [
    "EPOLL_ERR",
    "EPOLL_IN",
    "LIBRARY_NAMES",
    "Buffer",
    "ListenCallback",
    "Srt",
    "SrtError",
    "SrtUnavailable",
    "load",
]

LIBRARY_NAMES = ("libsrt.so.1.5", "libsrt-gnutls.so.1.5")

# SRT_SOCKOPT (srt.h)
SRTO_RCVSYN = 2
SRTO_SNDSYN = 1
SRTO_LATENCY = 23
SRTO_PASSPHRASE = 26
SRTO_PEERIDLETIMEO = 55
SRTO_STREAMID = 46
SRTO_TRANSTYPE = 50
SRTO_RCVBUF = 6
SRTO_IPV6ONLY = 54
SRTT_LIVE = 0

# SRT_SOCKSTATUS
SRTS_CONNECTED = 5
SRTS_BROKEN = 6  # BROKEN, CLOSING, CLOSED, NONEXIST follow: the socket is gone

# SRT_EPOLL_OPT
EPOLL_IN = 0x1
EPOLL_ERR = 0x8
SRT_EPOLL_ENABLE_EMPTY = 1

# SRT_ERRNO: "would block" on a non-blocking receive or accept
SRT_EASYNCRCV = 6002

SRT_LIVE_MAX_PLSIZE = 1456

# SRT_REJECT_REASON: a listener callback that returns -1 without a reason gives this one.
SRT_REJ_PEER = 2


class SrtUnavailable(RuntimeError):
    """libsrt is not installed."""


class SrtError(OSError):
    """A libsrt call failed: ``code`` is libsrt's SRT_ERRNO."""

    def __init__(self, call: str, code: int, description: str) -> None:
        super().__init__(code, f"{call}: {description}")
        self.call = call
        self.code = code


class _EpollEvent(ctypes.Structure):
    _fields_ = [("fd", ctypes.c_int32), ("events", ctypes.c_int)]


_LISTEN_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.c_void_p, ctypes.c_int32, ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p
)

Buffer = ctypes.Array[ctypes.c_char]

# (new socket, peer "host:port", stream id or None) -> 0 to go on, or an SRT reject code.
ListenCallback = Callable[[int, str, str | None], int]


def _peer_address(ptr: int | None) -> str:
    """``host:port`` of a ``struct sockaddr`` (IPv4 or IPv6; Linux layout)."""
    if not ptr:
        return "?"
    family = ctypes.c_uint16.from_address(ptr).value
    if family == socket.AF_INET:
        raw = ctypes.string_at(ptr, 16)
        port = struct.unpack("!H", raw[2:4])[0]
        return f"{socket.inet_ntop(socket.AF_INET, raw[4:8])}:{port}"
    if family == socket.AF_INET6:
        raw = ctypes.string_at(ptr, 28)
        port = struct.unpack("!H", raw[2:4])[0]
        return f"[{socket.inet_ntop(socket.AF_INET6, raw[8:24])}]:{port}"
    return "?"


def _sockaddr(host: str, port: int) -> tuple[ctypes.Array[ctypes.c_char], int]:
    if ":" in host:
        raw = struct.pack("<H", socket.AF_INET6) + struct.pack("!HI", port, 0)
        raw += socket.inet_pton(socket.AF_INET6, host) + struct.pack("<I", 0)
    else:
        raw = struct.pack("<H", socket.AF_INET) + struct.pack("!H", port)
        raw += socket.inet_pton(socket.AF_INET, host) + bytes(8)
    return ctypes.create_string_buffer(raw, len(raw)), len(raw)


class Srt:
    """libsrt's functions as Python methods; started once per process."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        self._lib = lib
        c_int, c_int32, c_void_p = ctypes.c_int, ctypes.c_int32, ctypes.c_void_p
        sig: dict[str, tuple[Any, list[Any]]] = {
            "srt_startup": (c_int, []),
            "srt_create_socket": (c_int32, []),
            "srt_setsockflag": (c_int, [c_int32, c_int, c_void_p, c_int]),
            "srt_getsockflag": (c_int, [c_int32, c_int, c_void_p, ctypes.POINTER(c_int)]),
            "srt_bind": (c_int, [c_int32, c_void_p, c_int]),
            "srt_listen": (c_int, [c_int32, c_int]),
            "srt_listen_callback": (c_int, [c_int32, _LISTEN_CALLBACK, c_void_p]),
            "srt_accept": (c_int32, [c_int32, c_void_p, ctypes.POINTER(c_int)]),
            "srt_connect": (c_int, [c_int32, c_void_p, c_int]),
            "srt_recvmsg": (c_int, [c_int32, c_void_p, c_int]),
            "srt_sendmsg": (c_int, [c_int32, c_void_p, c_int, c_int, c_int]),
            "srt_close": (c_int, [c_int32]),
            "srt_getsockname": (c_int, [c_int32, c_void_p, ctypes.POINTER(c_int)]),
            "srt_getsockstate": (c_int, [c_int32]),
            "srt_getlasterror": (c_int, [ctypes.POINTER(c_int)]),
            "srt_getlasterror_str": (ctypes.c_char_p, []),
            "srt_setrejectreason": (c_int, [c_int32, c_int]),
            "srt_getrejectreason": (c_int, [c_int32]),
            "srt_rejectreason_str": (ctypes.c_char_p, [c_int]),
            "srt_epoll_create": (c_int, []),
            "srt_epoll_set": (c_int32, [c_int, c_int32]),
            "srt_epoll_add_usock": (c_int, [c_int, c_int32, ctypes.POINTER(c_int)]),
            "srt_epoll_remove_usock": (c_int, [c_int, c_int32]),
            "srt_epoll_uwait": (c_int, [c_int, ctypes.POINTER(_EpollEvent), c_int, ctypes.c_int64]),
            "srt_epoll_release": (c_int, [c_int]),
            "srt_setloglevel": (None, [c_int]),
        }
        for name, (restype, argtypes) in sig.items():
            fn = getattr(lib, name)
            fn.restype = restype
            fn.argtypes = argtypes
        self._check("srt_startup", lib.srt_startup())
        lib.srt_setloglevel(2)  # LOG_CRIT: routine errors (e.g. EAGAIN on accept) stay off stderr

    # -- errors ---------------------------------------------------------------------------

    def last_error(self) -> tuple[int, str]:
        code = self._lib.srt_getlasterror(None)
        text = self._lib.srt_getlasterror_str() or b"unknown error"
        return code, text.decode(errors="replace")

    def _check(self, call: str, result: int) -> int:
        if result < 0:
            code, text = self.last_error()
            raise SrtError(call, code, text)
        return result

    def reject_reason_text(self, code: int) -> str:
        text = self._lib.srt_rejectreason_str(code)
        return text.decode(errors="replace") if text else str(code)

    # -- sockets --------------------------------------------------------------------------

    def create_socket(self) -> int:
        return self._check("srt_create_socket", self._lib.srt_create_socket())

    def set_int(self, sock: int, option: int, value: int) -> None:
        v = ctypes.c_int(value)
        self._check("srt_setsockflag", self._lib.srt_setsockflag(sock, option, ctypes.byref(v), 4))

    def set_bool(self, sock: int, option: int, value: bool) -> None:
        # SRT's boolean options are C++ bool (one byte), though an int is accepted too.
        self.set_int(sock, option, int(value))

    def set_str(self, sock: int, option: int, value: str) -> None:
        raw = value.encode()
        buf = ctypes.create_string_buffer(raw, len(raw))
        self._check("srt_setsockflag", self._lib.srt_setsockflag(sock, option, buf, len(raw)))

    def get_str(self, sock: int, option: int, size: int = 512) -> str:
        buf = ctypes.create_string_buffer(size + 1)
        n = ctypes.c_int(size + 1)
        self._check(
            "srt_getsockflag", self._lib.srt_getsockflag(sock, option, buf, ctypes.byref(n))
        )
        return buf.raw[: n.value].decode(errors="replace")

    def bind(self, sock: int, host: str, port: int) -> None:
        addr, size = _sockaddr(host, port)
        self._check("srt_bind", self._lib.srt_bind(sock, addr, size))

    def local_port(self, sock: int) -> int:
        buf = ctypes.create_string_buffer(128)
        n = ctypes.c_int(128)
        self._check("srt_getsockname", self._lib.srt_getsockname(sock, buf, ctypes.byref(n)))
        return int(struct.unpack("!H", buf.raw[2:4])[0])

    def listen(self, sock: int, backlog: int) -> None:
        self._check("srt_listen", self._lib.srt_listen(sock, backlog))

    def set_listen_callback(self, sock: int, callback: ListenCallback) -> Callable[..., int]:
        """Call ``callback`` on libsrt's receive thread for each caller's handshake.

        It returns 0 to go on or a reject code to refuse the caller. The returned object must
        be kept alive as long as the listener exists (libsrt holds a bare function pointer).
        """

        def trampoline(
            _opaque: int | None, ns: int, _hs: int, peer: int | None, sid: bytes | None
        ) -> int:
            try:
                code = callback(
                    ns, _peer_address(peer), sid.decode(errors="replace") if sid else None
                )
            except Exception:  # an exception must not cross into C: refuse instead
                code = 1500
            if code:
                self._lib.srt_setrejectreason(ns, code)
                return -1
            return 0

        fn = _LISTEN_CALLBACK(trampoline)
        self._check("srt_listen_callback", self._lib.srt_listen_callback(sock, fn, None))
        return fn

    def accept(self, sock: int) -> int | None:
        """A new connection, or None when none is waiting (non-blocking listener)."""
        buf = ctypes.create_string_buffer(128)
        n = ctypes.c_int(128)
        result = self._lib.srt_accept(sock, buf, ctypes.byref(n))
        if result < 0:
            code, text = self.last_error()
            if code == SRT_EASYNCRCV:
                return None
            raise SrtError("srt_accept", code, text)
        return int(result)

    def connect(self, sock: int, host: str, port: int) -> None:
        addr, size = _sockaddr(host, port)
        if self._lib.srt_connect(sock, addr, size) < 0:
            code, text = self.last_error()
            reason = self._lib.srt_getrejectreason(sock)
            raise SrtError("srt_connect", code, f"{text} (reject reason {reason})")

    def reject_reason(self, sock: int) -> int:
        return int(self._lib.srt_getrejectreason(sock))

    def recv_into(self, sock: int, buf: Buffer) -> int:
        """Bytes received into ``buf``; 0 when nothing is ready (non-blocking socket)."""
        result = self._lib.srt_recvmsg(sock, buf, len(buf))
        if result < 0:
            code, text = self.last_error()
            if code == SRT_EASYNCRCV:
                return 0
            raise SrtError("srt_recvmsg", code, text)
        return int(result)

    def send(self, sock: int, data: bytes) -> int:
        return self._check("srt_sendmsg", self._lib.srt_sendmsg(sock, data, len(data), -1, 1))

    def state(self, sock: int) -> int:
        return int(self._lib.srt_getsockstate(sock))

    def close(self, sock: int) -> None:
        self._lib.srt_close(sock)  # closing an already broken socket is not worth an error

    # -- epoll ----------------------------------------------------------------------------

    def epoll_create(self) -> int:
        eid = self._check("srt_epoll_create", self._lib.srt_epoll_create())
        self._lib.srt_epoll_set(eid, SRT_EPOLL_ENABLE_EMPTY)
        return eid

    def epoll_add(self, eid: int, sock: int, events: int) -> None:
        ev = ctypes.c_int(events)
        self._check(
            "srt_epoll_add_usock", self._lib.srt_epoll_add_usock(eid, sock, ctypes.byref(ev))
        )

    def epoll_remove(self, eid: int, sock: int) -> None:
        self._lib.srt_epoll_remove_usock(eid, sock)

    def epoll_wait(
        self, eid: int, events: ctypes.Array[_EpollEvent], timeout_ms: int
    ) -> list[tuple[int, int]]:
        """Ready sockets and their event flags; [] on timeout. ctypes releases the GIL."""
        n = self._lib.srt_epoll_uwait(eid, events, len(events), timeout_ms)
        if n < 0:
            code, text = self.last_error()
            raise SrtError("srt_epoll_uwait", code, text)
        return [(events[i].fd, events[i].events) for i in range(min(n, len(events)))]

    def epoll_release(self, eid: int) -> None:
        self._lib.srt_epoll_release(eid)

    @staticmethod
    def packet_buffer() -> Buffer:
        """A buffer for one live-mode SRT payload."""
        return (ctypes.c_char * SRT_LIVE_MAX_PLSIZE)()

    @staticmethod
    def epoll_events(size: int) -> ctypes.Array[_EpollEvent]:
        return (_EpollEvent * size)()


_load_lock = threading.Lock()


@cache
def _load() -> Srt:
    errors = []
    for name in LIBRARY_NAMES:
        try:
            return Srt(ctypes.CDLL(name))
        except OSError as exc:
            errors.append(str(exc))
    raise SrtUnavailable(
        "libsrt 1.5 is not installed (install the Debian package libsrt1.5-openssl, or set "
        f"srt_port = 0 to turn SRT ingest off): {'; '.join(errors)}"
    )


def load() -> Srt:
    """The process's libsrt, started (srt_startup) on first use."""
    with _load_lock:
        return _load()
