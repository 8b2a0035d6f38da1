"""RTMP server session for publishers (OBS, ffmpeg, GStreamer...), sans-I/O.

:class:`RtmpServerSession` runs the handshake, the chunk stream, the NetConnection /
NetStream command exchange of a publishing client and the FLV demuxing of its media. It owns
no socket, clock or event loop: feed it received bytes with
:meth:`~RtmpServerSession.receive_data`, which returns :data:`Event` objects, and send what
:meth:`~RtmpServerSession.data_to_send` returns.

Publishing needs a decision from the caller: ``publish`` yields :class:`PublishRequested`
and the session then holds every later message until :meth:`~RtmpServerSession.accept_publish`
or :meth:`~RtmpServerSession.reject_publish` is called; call
:meth:`~RtmpServerSession.resume` after accepting to get the events of the held messages
(the next ``receive_data`` would process them too). Audio, video and metadata that arrive
while no publish is accepted are dropped (clients wait for NetStream.Publish.Start before
sending media, so in practice nothing is lost; the held messages are capped at
``max_held_bytes``).

Media events. Accepting a publish creates the publish's :class:`~golive.media.flv.FlvDemuxer`
(unpublishing drops it; a new publish gets a new one), and from then on audio and video
messages come out of ``receive_data`` as the demuxer's own :class:`~golive.media.frame.Track`
and :class:`~golive.media.frame.Frame` objects, in the event list next to the protocol
events: no wrapper object per frame. Test them with ``type(event) is Frame`` first: they are
nearly all of the events.

Media errors. A codec the server cannot package
(:class:`~golive.media.flv.UnsupportedCodecError`) or a tag body that breaks the FLV layout
(:class:`~golive.media.flv.FlvFormatError`) takes the session's own failure path, the one
:meth:`~RtmpServerSession.fail` takes: the client is sent an ``onStatus`` error
(``NetStream.Failed``, with the demuxer's message, which says what to change, as
description), the session closes, and the events end with :class:`ClosingConnection` whose
``reason`` is that same message (for the caller's log line; flush ``data_to_send()``, then
close). Tracks and frames of the same read that came before the bad message are still in
the events, ahead of it. Any other exception out of the demuxer is a bug and propagates.

End of input. Like h11, ``receive_data(b"")`` means the peer closed its side (EOF): the
session closes, drops whatever it held or had half-read, and returns
``[ConnectionEnded()]``; later calls return no events. It is reported once, even when the
session had already closed on its own (it refused the client); a caller that gets no EOF
(a reset, an aborted transport) feeds ``b""`` all the same to learn the session is over.

Until a publish is accepted the client is unauthenticated, so it gets little: every message
at most ``max_command_size`` bytes (refused at its chunk header, before its body is
buffered), at most ``max_messages_before_publish`` messages of which at most
``max_commands_before_publish`` commands, chunks of at least ``min_chunk_size`` bytes, and
at most 256 AMF0 values per command. Audio and video may then be up to
``max_message_size`` bytes; commands and data messages stay capped at ``max_command_size``.
Worst case, one maximal command costs about 1 ms of CPU to reassemble and decode (see
docs/protocols.md for the measurement), so no message can hold the caller's loop for long.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from enum import Enum

from golive.ingest.rtmp.chunk_stream import (
    MSG_ACKNOWLEDGEMENT,
    MSG_AGGREGATE,
    MSG_AMF0_COMMAND,
    MSG_AMF0_DATA,
    MSG_AMF3_COMMAND,
    MSG_AMF3_DATA,
    MSG_AUDIO,
    MSG_SET_CHUNK_SIZE,
    MSG_SET_PEER_BANDWIDTH,
    MSG_USER_CONTROL,
    MSG_VIDEO,
    MSG_WINDOW_ACK_SIZE,
    ChunkStreamReader,
    ChunkStreamWriter,
    RtmpMessage,
    RtmpProtocolError,
)
from golive.ingest.rtmp.handshake import HandshakeError, ServerHandshake
from golive.ingest.rtmp.redaction import mask_app
from golive.media import amf0
from golive.media.flv import FlvDemuxer, FlvFormatError, UnsupportedCodecError
from golive.media.frame import Frame, Track

__all__ = [
    "ClosingConnection",
    "ConnectRequested",
    "ConnectionEnded",
    "Event",
    "HandshakeError",
    "MetadataReceived",
    "PublishRequested",
    "RtmpProtocolError",
    "RtmpServerSession",
    "Unpublished",
]

# Chunk streams for what we send: protocol control on 2 (spec 5.4), NetConnection commands
# on 3, NetStream status on 5 (the conventional choices of Adobe's servers).
_CSID_CONTROL = 2
_CSID_COMMAND = 3
_CSID_STREAM = 5

_USER_STREAM_BEGIN = 0
_USER_PING_REQUEST = 6
_USER_PING_RESPONSE = 7

_U32 = struct.Struct(">I")
_USER_EVENT = struct.Struct(">HI")
_PEER_BW = struct.Struct(">IB")
_AGG_TAG = struct.Struct(">BHBHBBHB")  # type, size(24), timestamp(24), ts ext, stream id(24)

# Values one command may hold: OBS's and ffmpeg's connect has about 12, publish 5. This bounds
# the decoding cost of a maximal (max_command_size) command to about 1 ms; see
# docs/protocols.md for the measurement.
_COMMAND_MAX_VALUES = 256

_FMS_VERSION = "FMS/3,0,1,123"
_CAPABILITIES = 31.0
_STREAM_ID = 1  # the one NetStream we create per connection


@dataclass(frozen=True, slots=True)
class ConnectRequested:
    """The client sent ``connect`` and was answered with NetConnection.Connect.Success."""

    app: str  # without query string or trailing slash
    tc_url: str
    properties: dict[str, object]  # the whole command object (flashVer, fourCcList...)


@dataclass(frozen=True, slots=True)
class PublishRequested:
    """The client wants to publish; answer with accept_publish() or reject_publish()."""

    stream_name: str  # the stream key, without query string
    query: str  # what followed '?' in the publish name, '' if nothing
    publish_type: str  # 'live', 'record' or 'append'


@dataclass(frozen=True, slots=True)
class MetadataReceived:
    """``@setDataFrame``/``onMetaData`` values of the accepted publish."""

    values: dict[str, object]


@dataclass(frozen=True, slots=True)
class Unpublished:
    """The client ended its publish (FCUnpublish, deleteStream or closeStream)."""


@dataclass(frozen=True, slots=True)
class ClosingConnection:
    """The session refused the client and told it why; flush data_to_send(), then close.

    Also the end of a publish whose media the server cannot take (unsupported codec,
    malformed FLV tag): ``reason`` is then the message the client was sent.
    """

    reason: str


@dataclass(frozen=True, slots=True)
class ConnectionEnded:
    """The peer closed the connection: ``receive_data(b"")`` was called. The last event."""


# Track and Frame are the FLV demuxer's own objects (golive.media.frame), passed through.
Event = (
    Frame
    | Track
    | ConnectRequested
    | PublishRequested
    | MetadataReceived
    | Unpublished
    | ClosingConnection
    | ConnectionEnded
)


class _State(Enum):
    HANDSHAKE = "handshake"
    CONNECTING = "waiting for connect"
    CONNECTED = "connected"
    PUBLISH_PENDING = "publish pending"
    PUBLISHING = "publishing"
    CLOSED = "closed"


@dataclass(slots=True)
class _Held:
    messages: list[RtmpMessage] = field(default_factory=list)
    size: int = 0


def _status(level: str, code: str, description: str, **extra: object) -> dict[str, object]:
    info: dict[str, object] = {"level": level, "code": code, "description": description}
    info.update(extra)
    return info


class RtmpServerSession:
    """One RTMP connection from a publisher, as a sans-I/O state machine."""

    def __init__(
        self,
        *,
        max_message_size: int = 16 * 1024 * 1024,
        max_command_size: int = 64 * 1024,
        max_commands_before_publish: int = 32,
        max_messages_before_publish: int = 256,
        min_chunk_size: int = 128,
        max_chunk_size: int = 1024 * 1024,
        max_chunk_streams: int = 64,
        allowed_apps: Collection[str] | None = None,
        window_ack_size: int = 2_500_000,
        out_chunk_size: int = 4096,
        max_held_bytes: int = 8 * 1024 * 1024,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._handshake = ServerHandshake(random_bytes=random_bytes)
        command_size = min(max_command_size, max_message_size)
        # Media gets its own (large) limit only once a publish is accepted: see accept_publish.
        self._reader = ChunkStreamReader(
            max_message_size=command_size,
            max_command_size=command_size,
            max_chunk_size=max_chunk_size,
            min_chunk_size=min_chunk_size,
            max_chunk_streams=max_chunk_streams,
            max_messages=max_messages_before_publish,
        )
        self._max_media_size = max_message_size
        self._commands_left = max_commands_before_publish
        self._max_commands_before_publish = max_commands_before_publish
        self._writer = ChunkStreamWriter()
        self._allowed_apps = None if allowed_apps is None else frozenset(allowed_apps)
        self._window_ack_size = window_ack_size
        self._out_chunk_size = out_chunk_size
        self._max_held_bytes = max_held_bytes
        self._out = bytearray()
        self._state = _State.HANDSHAKE
        self._held = _Held()
        self._bytes_in = 0
        self._acked = 0
        self._peer_window = 0  # the peer's Window Acknowledgement Size, 0 until it sends one
        self._publish_stream_id = 0
        # The accepted publish's demuxer: set exactly while publishing (see accept_publish).
        self._demuxer: FlvDemuxer | None = None
        self._eof = False
        self.app = ""
        self.tc_url = ""
        self.stream_name = ""
        self.query = ""
        self.publish_type = ""

    # ----------------------------------------------------------------------------------
    # Public API

    @property
    def state(self) -> str:
        """Human-readable state, for logs."""
        return self._state.value

    @property
    def publishing(self) -> bool:
        """True between accept_publish() and the end of the publish."""
        return self._state is _State.PUBLISHING

    @property
    def closed(self) -> bool:
        """True once the session has refused, failed, hit a protocol error or seen EOF."""
        return self._state is _State.CLOSED

    @property
    def bytes_received(self) -> int:
        """Bytes received so far, handshake included."""
        return self._bytes_in

    def data_to_send(self) -> bytes:
        """Bytes to send to the client; emptied by the call."""
        out = bytes(self._out)
        self._out.clear()
        return out

    def receive_data(self, data: bytes) -> list[Event]:
        """Consume bytes from the client and return what happened.

        ``b""`` means the client closed the connection (EOF): the session closes and returns
        ``[ConnectionEnded()]`` (nothing if the EOF was already reported).

        Raises :class:`RtmpProtocolError` (or its subclass :class:`HandshakeError`) when
        the client breaks the protocol or a limit; the session is then closed.
        """
        events: list[Event] = []
        if not data:
            if not self._eof:
                self._eof = True
                self._close()
                events.append(ConnectionEnded())
            return events
        if self._state is _State.CLOSED:
            return events
        try:
            self._bytes_in += len(data)
            if self._state is _State.HANDSHAKE:
                data = self._handshake.receive_data(data)
                self._out += self._handshake.data_to_send()
                if not self._handshake.complete:
                    return events
                self._state = _State.CONNECTING
            messages = self._reader.feed(data) if data else []  # the handshake may take it all
            if self._peer_window and self._bytes_in - self._acked >= self._peer_window:
                # Sequence numbers are a 32-bit counter that wraps (spec 5.4.3).
                self._acked = self._bytes_in
                self._control(MSG_ACKNOWLEDGEMENT, _U32.pack(self._bytes_in & 0xFFFFFFFF))
            if self._state is _State.PUBLISH_PENDING:
                self._hold(messages)
                return events
            held = self._held
            if held.messages:
                messages = held.messages + messages
                held.messages = []
                held.size = 0
            self._process(messages, events)
        except RtmpProtocolError:
            self._close()
            raise
        return events

    def resume(self) -> list[Event]:
        """Process the messages held while the publish awaited a decision; their events.

        Call it after :meth:`accept_publish`. Returns no events while the decision is still
        pending (the messages stay held) or after a rejection (they were dropped). Raises
        :class:`RtmpProtocolError` as :meth:`receive_data` does.
        """
        events: list[Event] = []
        held = self._held
        if self._state is _State.PUBLISH_PENDING or not held.messages:
            return events
        self._held = _Held()
        try:
            self._process(held.messages, events)
        except RtmpProtocolError:
            self._close()
            raise
        return events

    def accept_publish(self) -> None:
        """Let the pending publish start: Stream Begin + NetStream.Publish.Start.

        From now on audio and video come out as :class:`Track` and :class:`Frame` events.
        """
        self._expect_pending()
        self._state = _State.PUBLISHING
        self._demuxer = FlvDemuxer()
        self._reader.max_message_size = self._max_media_size
        self._reader.max_messages = None
        begin = _USER_EVENT.pack(_USER_STREAM_BEGIN, self._publish_stream_id)
        self._control(MSG_USER_CONTROL, begin)
        self._on_status(_status("status", "NetStream.Publish.Start", "Publishing started."))

    def reject_publish(self, code: str, description: str) -> None:
        """Refuse the pending publish with an error status; the session is then closed."""
        self._expect_pending()
        self._on_status(_status("error", code, description))
        self._close()

    def fail(self, description: str, code: str = "NetStream.Failed") -> None:
        """Tell the client about a fatal error (onStatus, level error) and close the session."""
        if self._state is _State.CLOSED:
            return
        if self._state is not _State.HANDSHAKE:
            self._on_status(_status("error", code, description))
        self._close()

    def request_reconnect(self, description: str) -> None:
        """Ask the client to reconnect (the server is restarting) and close the session.

        Enhanced RTMP's ``NetConnection.Connect.ReconnectRequest``: a status-level onStatus
        on the NetConnection (message stream 0). Clients that do not know it see the
        connection close and reconnect as they would after any drop.
        """
        if self._state is _State.CLOSED:
            return
        if self._state is not _State.HANDSHAKE:
            info = _status("status", "NetConnection.Connect.ReconnectRequest", description)
            self._on_status(info, stream_id=0)
        self._close()

    # ----------------------------------------------------------------------------------
    # Incoming messages

    def _process(self, messages: list[RtmpMessage], events: list[Event]) -> None:
        for i, msg in enumerate(messages):
            self._handle(msg, events)
            state = self._state
            if state is _State.PUBLISH_PENDING:
                self._hold(messages[i + 1 :])
                return
            if state is _State.CLOSED:
                return

    def _hold(self, messages: list[RtmpMessage]) -> None:
        held = self._held
        held.messages += messages
        held.size += sum(len(m.payload) for m in messages)
        if held.size > self._max_held_bytes:
            raise RtmpProtocolError(
                f"client sent {held.size} bytes while its publish was awaiting a decision"
            )

    def _handle(self, msg: RtmpMessage, events: list[Event]) -> None:
        type_id = msg.type_id
        if type_id in (MSG_VIDEO, MSG_AUDIO):
            # The hot path: about 80 messages a second per stream.
            demuxer = self._demuxer
            if demuxer is None:
                return  # no publish accepted: dropped (see the module docstring)
            try:
                if type_id == MSG_VIDEO:
                    items = demuxer.video(msg.timestamp, msg.payload)
                else:
                    items = demuxer.audio(msg.timestamp, msg.payload)
            except (UnsupportedCodecError, FlvFormatError) as exc:
                # The publisher is told what to change, then the session closes (_process
                # stops at the closed state).
                reason = str(exc)
                self.fail(reason)
                events.append(ClosingConnection(reason))
                return
            if items:
                events += items
        elif type_id in (MSG_AMF0_COMMAND, MSG_AMF3_COMMAND):
            self._command(msg, events)
        elif type_id in (MSG_AMF0_DATA, MSG_AMF3_DATA):
            self._data(msg, events)
        elif type_id == MSG_USER_CONTROL:
            self._user_control(msg.payload)
        elif type_id == MSG_WINDOW_ACK_SIZE:
            if len(msg.payload) >= 4:
                (self._peer_window,) = _U32.unpack_from(msg.payload)
        elif type_id == MSG_AGGREGATE:
            self._aggregate(msg, events)
        # Acknowledgement, Set Peer Bandwidth and shared-object messages need no action.

    def _user_control(self, payload: bytes) -> None:
        if len(payload) >= 6 and payload[0] == 0 and payload[1] == _USER_PING_REQUEST:
            (stamp,) = _U32.unpack_from(payload, 2)
            self._control(MSG_USER_CONTROL, _USER_EVENT.pack(_USER_PING_RESPONSE, stamp))

    def _aggregate(self, msg: RtmpMessage, events: list[Event]) -> None:
        # An aggregate message is a run of FLV-tag-shaped sub-messages; their timestamps are
        # relative to the first one, which maps to the aggregate's own timestamp.
        payload = msg.payload
        pos = 0
        end = len(payload)
        first: int | None = None
        while pos < end:
            if end - pos < 11:
                raise RtmpProtocolError(
                    f"aggregate message ends with {end - pos} bytes that are no sub-message"
                )
            type_id, s_hi, s_lo, t_hi, t_lo, t_ext, _, _ = _AGG_TAG.unpack_from(payload, pos)
            size = (s_hi << 8) | s_lo
            ts = (t_ext << 24) | (t_hi << 8) | t_lo
            body_end = pos + 11 + size
            if body_end > end:
                raise RtmpProtocolError(
                    f"aggregate message sub-message of {size} bytes overruns the aggregate"
                )
            if first is None:
                first = ts
            if type_id in (MSG_AUDIO, MSG_VIDEO, MSG_AMF0_DATA):
                sub = RtmpMessage(
                    type_id,
                    msg.stream_id,
                    (msg.timestamp + ts - first) & 0xFFFFFFFF,
                    payload[pos + 11 : body_end],
                    msg.chunk_stream_id,
                )
                self._handle(sub, events)
                if self._state is _State.CLOSED:
                    return  # its media was refused
            pos = body_end + 4  # skip the back pointer

    def _data(self, msg: RtmpMessage, events: list[Event]) -> None:
        if self._state is not _State.PUBLISHING:
            return
        payload = msg.payload
        if msg.type_id == MSG_AMF3_DATA and payload[:1] == b"\x00":
            payload = payload[1:]
        try:
            values = amf0.decode_all(payload)
        except amf0.Amf0DecodeError:
            return  # metadata is advisory: a malformed data message is not worth a disconnect
        if values and values[0] == "@setDataFrame":
            values = values[1:]
        if len(values) >= 2 and values[0] == "onMetaData" and isinstance(values[1], dict):
            events.append(MetadataReceived(dict(values[1])))

    def _command(self, msg: RtmpMessage, events: list[Event]) -> None:
        if self._state is not _State.PUBLISHING:
            # Real clients send about five commands before publish; a stream of them from an
            # unauthenticated peer is only work for us.
            self._commands_left -= 1
            if self._commands_left < 0:
                raise RtmpProtocolError(
                    f"more than {self._max_commands_before_publish} commands before publish"
                )
        payload = msg.payload
        if msg.type_id == MSG_AMF3_COMMAND and payload[:1] == b"\x00":
            payload = payload[1:]  # AMF3 command messages start with a format byte
        try:
            values = amf0.decode_all(payload, max_values=_COMMAND_MAX_VALUES)
        except amf0.Amf0DecodeError as exc:
            raise RtmpProtocolError(f"malformed AMF0 in command message: {exc}") from exc
        if not values or not isinstance(values[0], str):
            raise RtmpProtocolError("command message does not start with a command name")
        name = values[0]
        txid = values[1] if len(values) > 1 and isinstance(values[1], float) else 0.0
        args = values[3:]
        if name in ("_result", "_error", "onStatus", "onBWDone"):
            return  # replies and notifications: we call nothing that expects them
        if self._state is _State.CONNECTING:
            if name != "connect":
                raise RtmpProtocolError(f"{name!r} command before connect")
            cmd_obj = values[2] if len(values) > 2 and isinstance(values[2], dict) else {}
            self._connect(txid, cmd_obj, events)
            return
        stream_name = args[0] if args and isinstance(args[0], str) else ""
        if name == "connect":
            self._call_error(txid, "NetConnection.Call.Failed", "already connected")
        elif name == "releaseStream":
            self._result(txid, None, amf0.UNDEFINED)
        elif name == "FCPublish":
            self._command_reply(
                "onFCPublish",
                0.0,
                None,
                {"code": "NetStream.Publish.Start", "description": stream_name},
            )
            self._result(txid, None, amf0.UNDEFINED)
        elif name == "createStream":
            self._result(txid, None, float(_STREAM_ID))
        elif name == "publish":
            publish_type = args[1] if len(args) > 1 and isinstance(args[1], str) else "live"
            self._publish(msg.stream_id, stream_name, publish_type, events)
        elif name in ("FCUnpublish", "deleteStream", "closeStream"):
            if name == "FCUnpublish" and txid:
                self._result(txid, None, amf0.UNDEFINED)
            if self._state is _State.PUBLISHING:
                self._state = _State.CONNECTED
                self._demuxer = None
                events.append(Unpublished())
        elif name in ("play", "play2"):
            reason = "golive is an ingest-only RTMP server: play is not supported; watch over HLS"
            self._on_status(
                _status("error", "NetStream.Play.Failed", reason), stream_id=msg.stream_id
            )
            self._close()
            events.append(ClosingConnection("play refused (ingest-only server)"))
        elif txid:
            # Echo a bounded name: the reply should not grow with what the client sends.
            shown = name if len(name) <= 64 else name[:64] + "…"
            self._call_error(txid, "NetConnection.Call.Failed", f"unknown command {shown!r}")

    def _connect(self, txid: float, cmd_obj: dict[str, object], events: list[Event]) -> None:
        raw_app = cmd_obj.get("app")
        app = raw_app if isinstance(raw_app, str) else ""
        app = app.split("?", 1)[0].strip("/")
        tc_url = cmd_obj.get("tcUrl")
        encoding = cmd_obj.get("objectEncoding")
        if self._allowed_apps is not None and app not in self._allowed_apps:
            served = ", ".join(sorted(self._allowed_apps)) or "none"
            description = f"application {app!r} is not served here (served: {served})"
            self._call_error(txid, "NetConnection.Connect.Rejected", description)
            self._close()
            # The app may hold a stream key (rtmp://host/live/KEY pasted as the server URL).
            shown = mask_app(app, self._allowed_apps)
            events.append(ClosingConnection(f"connect refused: unknown application {shown!r}"))
            return
        self.app = app
        self.tc_url = tc_url if isinstance(tc_url, str) else ""
        ack = self._window_ack_size
        self._control(MSG_WINDOW_ACK_SIZE, _U32.pack(ack))
        self._control(MSG_SET_PEER_BANDWIDTH, _PEER_BW.pack(ack, 2))  # 2: dynamic limit
        self._control(MSG_SET_CHUNK_SIZE, _U32.pack(self._out_chunk_size))
        self._writer.chunk_size = self._out_chunk_size
        self._result(
            txid,
            {"fmsVer": _FMS_VERSION, "capabilities": _CAPABILITIES},
            _status(
                "status",
                "NetConnection.Connect.Success",
                "Connection succeeded.",
                objectEncoding=encoding if isinstance(encoding, float) else 0.0,
            ),
        )
        self._state = _State.CONNECTED
        events.append(ConnectRequested(app, self.tc_url, dict(cmd_obj)))

    def _publish(
        self, stream_id: int, raw_name: str, publish_type: str, events: list[Event]
    ) -> None:
        if self._state is not _State.CONNECTED:
            self._on_status(
                _status("error", "NetStream.Publish.BadName", "this connection already publishes"),
                stream_id=stream_id,
            )
            return
        name, _, query = raw_name.partition("?")
        if not name:
            self._publish_stream_id = stream_id
            self._on_status(
                _status(
                    "error",
                    "NetStream.Publish.BadName",
                    "empty stream name: publish to rtmp://<host>/<app>/<stream key>",
                )
            )
            self._close()
            events.append(ClosingConnection("publish refused: empty stream name"))
            return
        self._publish_stream_id = stream_id
        self.stream_name = name
        self.query = query
        self.publish_type = publish_type
        self._state = _State.PUBLISH_PENDING
        events.append(PublishRequested(name, query, publish_type))

    # ----------------------------------------------------------------------------------
    # Outgoing messages

    def _close(self) -> None:
        self._state = _State.CLOSED
        self._held = _Held()
        self._demuxer = None

    def _expect_pending(self) -> None:
        if self._state is not _State.PUBLISH_PENDING:
            raise RuntimeError(f"no publish awaits a decision (session {self._state.value})")

    def _control(self, type_id: int, payload: bytes) -> None:
        self._out += self._writer.write(_CSID_CONTROL, type_id, 0, 0, payload)

    def _command_reply(self, *values: object, stream_id: int = 0) -> None:
        csid = _CSID_STREAM if stream_id else _CSID_COMMAND
        body = amf0.encode(*values)
        self._out += self._writer.write(csid, MSG_AMF0_COMMAND, stream_id, 0, body)

    def _result(self, txid: float, *values: object) -> None:
        self._command_reply("_result", txid, *values)

    def _call_error(self, txid: float, code: str, description: str) -> None:
        self._command_reply("_error", txid, None, _status("error", code, description))

    def _on_status(self, info: dict[str, object], stream_id: int | None = None) -> None:
        sid = self._publish_stream_id if stream_id is None else stream_id
        self._command_reply("onStatus", 0.0, None, info, stream_id=sid)
