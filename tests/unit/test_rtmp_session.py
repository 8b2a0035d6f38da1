"""RtmpServerSession at the byte level: the command flows of OBS/ffmpeg/GStreamer publishers,
the Track and Frame events it demuxes, and its end of input (no asyncio anywhere)."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from golive.ingest.rtmp.chunk_stream import ChunkStreamReader, ChunkStreamWriter, RtmpMessage
from golive.ingest.rtmp.handshake import HANDSHAKE_SIZE
from golive.ingest.rtmp.session import (
    ClosingConnection,
    ConnectionEnded,
    ConnectRequested,
    Event,
    HandshakeError,
    MetadataReceived,
    PublishRequested,
    RtmpProtocolError,
    RtmpServerSession,
    Unpublished,
)
from golive.media import amf0
from golive.media.amf0 import UNDEFINED, EcmaArray
from golive.media.frame import AUDIO_TRACK_ID, VIDEO_TRACK_ID, Frame, Track, TrackKind

# A real x264 avcC (High, 320x240) and an AAC-LC 44.1 kHz stereo AudioSpecificConfig.
AVCC_320x240 = bytes.fromhex(
    "0164000dffe100196764000dacd94141fb0110000003001000000303c0f142996001000668ebe3cb22c0fdf8f800"
)
ASC_LC_44K_STEREO = bytes([0x12, 0x10])
NAL = b"\x00\x00\x00\x02\x41\x9a"  # one length-prefixed NAL unit
AAC_AU = b"\x21\x10\x04"
VIDEO_SEQ = b"\x17\x00\x00\x00\x00" + AVCC_320x240  # FLV AVC sequence header
AUDIO_SEQ = b"\xaf\x00" + ASC_LC_44K_STEREO  # FLV AAC sequence header


def video_frame(key: bool = True, data: bytes = NAL) -> bytes:
    return bytes([0x17 if key else 0x27, 1, 0, 0, 0]) + data


def audio_frame(data: bytes = AAC_AU) -> bytes:
    return b"\xaf\x01" + data


CONNECT_OBJ = {
    "app": "live",
    "type": "nonprivate",
    "flashVer": "FMLE/3.0 (compatible; FMSc/1.0)",
    "tcUrl": "rtmp://127.0.0.1/live",
}


class Client:
    """A scripted publisher talking to a session in memory."""

    def __init__(self, **session_args: object) -> None:
        args: dict[str, object] = {"allowed_apps": ("live",)}
        args.update(session_args)
        self.session = RtmpServerSession(**args)  # type: ignore[arg-type]
        self.writer = ChunkStreamWriter()
        self.reader = ChunkStreamReader()

    def handshake(self) -> None:
        c1 = bytes(8) + bytes(range(256)) * 6
        assert self.session.receive_data(b"\x03" + c1[:HANDSHAKE_SIZE]) == []
        out = self.session.data_to_send()
        assert len(out) == 1 + 2 * HANDSHAKE_SIZE
        s1 = out[1 : 1 + HANDSHAKE_SIZE]
        assert self.session.receive_data(s1) == []

    def send(self, csid: int, type_id: int, msid: int, payload: bytes, ts: int = 0) -> list[Event]:
        return self.session.receive_data(self.writer.write(csid, type_id, msid, ts, payload))

    def command(self, *values: object, msid: int = 0, csid: int = 3) -> list[Event]:
        return self.send(csid, 20, msid, amf0.encode(*values))

    def replies(self) -> list[RtmpMessage]:
        return self.reader.feed(self.session.data_to_send())

    def reply_commands(self) -> list[list[object]]:
        return [amf0.decode_all(m.payload) for m in self.replies() if m.type_id == 20]

    def connect(self, obj: dict[str, object] | None = None) -> list[Event]:
        self.handshake()
        return self.command("connect", 1.0, CONNECT_OBJ if obj is None else obj)

    def publish_request(self, name: str = "KEY") -> list[Event]:
        self.connect()
        self.command("releaseStream", 2.0, None, name)
        self.command("FCPublish", 3.0, None, name)
        self.command("createStream", 4.0, None)
        self.replies()
        return self.command("publish", 5.0, None, name, "live", msid=1, csid=8)

    def publishing(self, name: str = "KEY") -> None:
        self.publish_request(name)
        self.session.accept_publish()
        self.replies()


# -- connect ---------------------------------------------------------------------------------


def test_connect_answers_control_messages_and_result() -> None:
    c = Client()
    obj = dict(CONNECT_OBJ, objectEncoding=3.0, fourCcList=["hvc1"])
    events = c.connect(obj)
    assert events == [ConnectRequested("live", "rtmp://127.0.0.1/live", obj)]
    replies = c.replies()
    assert [m.type_id for m in replies] == [5, 6, 20]  # Set Chunk Size is applied by the reader
    assert replies[0].payload == struct.pack(">I", 2_500_000)
    assert replies[1].payload == struct.pack(">IB", 2_500_000, 2)
    assert c.reader.chunk_size == 4096
    assert all(m.chunk_stream_id == 2 and m.stream_id == 0 for m in replies[:2])
    name, txid, props, info = amf0.decode_all(replies[2].payload)
    assert (name, txid) == ("_result", 1.0)
    assert isinstance(props, dict) and isinstance(info, dict)
    assert props["fmsVer"] and props["capabilities"] == 31.0
    assert info["code"] == "NetConnection.Connect.Success"
    assert info["level"] == "status"
    assert info["objectEncoding"] == 3.0  # echoed
    assert c.session.app == "live"


def test_connect_app_query_and_slash_are_stripped() -> None:
    c = Client()
    (event,) = c.connect(dict(CONNECT_OBJ, app="live/?token=x"))
    assert isinstance(event, ConnectRequested)
    assert event.app == "live"


def test_connect_to_unknown_app_is_rejected() -> None:
    c = Client()
    events = c.connect(dict(CONNECT_OBJ, app="vod"))
    assert len(events) == 1 and isinstance(events[0], ClosingConnection)
    assert "'vod…'" in events[0].reason  # an unknown app may be a key: 4 characters shown
    ((name, txid, _, info),) = c.reply_commands()
    assert (name, txid) == ("_error", 1.0)
    assert isinstance(info, dict)
    assert info["code"] == "NetConnection.Connect.Rejected"
    assert "live" in str(info["description"])
    assert c.session.closed
    assert c.command("createStream", 2.0, None) == []


def test_any_app_when_unrestricted() -> None:
    c = Client(allowed_apps=None)
    assert isinstance(c.connect(dict(CONNECT_OBJ, app="anything"))[0], ConnectRequested)


def test_command_before_connect_is_a_protocol_error() -> None:
    c = Client()
    c.handshake()
    with pytest.raises(RtmpProtocolError, match="'publish' command before connect"):
        c.command("publish", 1.0, None, "KEY")
    assert c.session.closed


def test_truncated_amf_in_connect_is_a_protocol_error() -> None:
    c = Client()
    c.handshake()
    body = amf0.encode("connect", 1.0, CONNECT_OBJ)[:-7]
    with pytest.raises(RtmpProtocolError, match="malformed AMF0 in command message"):
        c.send(3, 20, 0, body)


def test_command_without_name_is_a_protocol_error() -> None:
    c = Client()
    c.handshake()
    with pytest.raises(RtmpProtocolError, match="command name"):
        c.send(3, 20, 0, amf0.encode(1.0))


def test_bad_handshake_raises_handshake_error() -> None:
    session = RtmpServerSession()
    with pytest.raises(HandshakeError, match="HTTP"):
        session.receive_data(b"GET / HTTP/1.1\r\n\r\n")
    assert session.closed


# -- publish flow ----------------------------------------------------------------------------


def test_ffmpeg_publish_flow() -> None:
    c = Client()
    c.connect()
    c.replies()
    assert c.command("releaseStream", 2.0, None, "KEY?a=b") == []
    assert c.reply_commands() == [["_result", 2.0, None, UNDEFINED]]
    assert c.command("FCPublish", 3.0, None, "KEY?a=b") == []
    on_fc, result = c.reply_commands()
    assert on_fc[0] == "onFCPublish"
    assert result == ["_result", 3.0, None, UNDEFINED]
    assert c.command("createStream", 4.0, None) == []
    assert c.reply_commands() == [["_result", 4.0, None, 1.0]]
    events = c.command("publish", 5.0, None, "KEY?a=b", "live", msid=1, csid=8)
    assert events == [PublishRequested("KEY", "a=b", "live")]
    assert c.replies() == []  # nothing until the decision
    assert (c.session.stream_name, c.session.query) == ("KEY", "a=b")

    c.session.accept_publish()
    begin, status = c.replies()
    assert (begin.type_id, begin.payload) == (4, struct.pack(">HI", 0, 1))
    assert (status.type_id, status.stream_id) == (20, 1)
    name, _, _, info = amf0.decode_all(status.payload)
    assert name == "onStatus"
    assert isinstance(info, dict)
    assert (info["level"], info["code"]) == ("status", "NetStream.Publish.Start")
    assert c.session.publishing

    meta = EcmaArray(width=320.0, height=240.0, videocodecid=7.0)
    assert c.send(4, 18, 1, amf0.encode("@setDataFrame", "onMetaData", meta)) == [
        MetadataReceived(dict(meta))
    ]
    (video,) = c.send(6, 9, 1, VIDEO_SEQ, ts=0)
    assert isinstance(video, Track) and video.kind is TrackKind.VIDEO
    assert c.send(6, 9, 1, video_frame(), ts=33) == [
        Frame(VIDEO_TRACK_ID, 33 * 90, 33 * 90, True, NAL)
    ]
    (audio,) = c.send(4, 8, 1, AUDIO_SEQ, ts=0)
    assert isinstance(audio, Track) and audio.kind is TrackKind.AUDIO
    assert c.send(4, 8, 1, audio_frame(), ts=21) == [
        Frame(AUDIO_TRACK_ID, 21 * 44100 // 1000, 21 * 44100 // 1000, True, AAC_AU)
    ]

    assert c.command("FCUnpublish", 6.0, None, "KEY?a=b") == [Unpublished()]
    assert c.command("deleteStream", 7.0, None, 1.0) == []  # only one Unpublished
    assert not c.session.publishing
    assert c.send(6, 9, 1, video_frame()) == []  # no publish: dropped


def test_obs_style_metadata_without_set_data_frame() -> None:
    c = Client()
    c.publishing()
    events = c.send(4, 18, 1, amf0.encode("onMetaData", {"encoder": "obs-output module"}))
    assert events == [MetadataReceived({"encoder": "obs-output module"})]


def test_amf3_data_message_and_malformed_metadata() -> None:
    c = Client()
    c.publishing()
    body = amf0.encode("@setDataFrame", "onMetaData", {"a": 1.0})
    assert c.send(4, 15, 1, b"\x00" + body) == [MetadataReceived({"a": 1.0})]
    assert c.send(4, 18, 1, body[:-4]) == []  # malformed metadata is ignored
    assert c.send(4, 18, 1, amf0.encode("onCuePoint", {"a": 1.0})) == []
    assert c.session.publishing


def test_delete_stream_and_close_stream_unpublish() -> None:
    for command in ("deleteStream", "closeStream"):
        c = Client()
        c.publishing()
        assert c.command(command, 0.0, None, 1.0) == [Unpublished()]


def test_reject_publish_sends_error_status_and_closes() -> None:
    c = Client()
    c.publish_request("WRONG")
    c.session.reject_publish("NetStream.Publish.BadName", "Invalid stream key")
    (status,) = c.replies()
    assert status.stream_id == 1
    info = amf0.decode_all(status.payload)[3]
    assert info == {
        "level": "error",
        "code": "NetStream.Publish.BadName",
        "description": "Invalid stream key",
    }
    assert c.session.closed
    assert c.send(6, 9, 1, b"x") == []


def test_reconnect_request_is_a_netconnection_status_then_close() -> None:
    c = Client()
    c.publishing()
    c.replies()
    c.session.request_reconnect("server is restarting")
    (status,) = c.replies()
    assert status.stream_id == 0
    values = amf0.decode_all(status.payload)
    assert values[0] == "onStatus"
    assert values[3] == {
        "level": "status",
        "code": "NetConnection.Connect.ReconnectRequest",
        "description": "server is restarting",
    }
    assert c.session.closed


def test_decision_methods_require_a_pending_publish() -> None:
    c = Client()
    c.connect()
    with pytest.raises(RuntimeError):
        c.session.accept_publish()
    with pytest.raises(RuntimeError):
        c.session.reject_publish("x", "y")


def test_media_before_publish_is_dropped() -> None:
    c = Client()
    c.connect()
    assert c.send(6, 9, 1, b"\x17early") == []
    assert c.send(4, 18, 1, amf0.encode("onMetaData", {"a": 1.0})) == []


def test_messages_after_publish_are_held_until_the_decision() -> None:
    c = Client()
    c.publish_request()
    # A client that does not wait for NetStream.Publish.Start.
    assert c.send(6, 9, 1, VIDEO_SEQ, ts=0) == []
    assert c.send(6, 9, 1, video_frame(), ts=33) == []
    assert c.session.resume() == []  # still awaiting the decision: still held
    c.session.accept_publish()
    track, frame = c.session.resume()
    assert isinstance(track, Track) and track.config == AVCC_320x240
    assert frame == Frame(VIDEO_TRACK_ID, 33 * 90, 33 * 90, True, NAL)
    assert c.session.resume() == []


def test_messages_pipelined_with_publish_are_held() -> None:
    c = Client()
    c.connect()
    w = c.writer
    data = w.write(8, 20, 1, 0, amf0.encode("publish", 5.0, None, "KEY", "live"))
    data += w.write(6, 9, 1, 0, VIDEO_SEQ)
    assert c.session.receive_data(data) == [PublishRequested("KEY", "", "live")]
    c.session.accept_publish()
    (track,) = c.session.resume()
    assert isinstance(track, Track)


def test_held_messages_are_processed_by_the_next_read_without_resume() -> None:
    c = Client()
    c.publish_request()
    c.send(6, 9, 1, VIDEO_SEQ)
    c.session.accept_publish()
    events = c.send(6, 9, 1, video_frame(), ts=40)
    assert [type(e) for e in events] == [Track, Frame]


def test_held_messages_are_dropped_on_reject() -> None:
    c = Client()
    c.publish_request()
    c.send(6, 9, 1, VIDEO_SEQ)
    c.session.reject_publish("NetStream.Publish.BadName", "no")
    assert c.session.resume() == []


def test_held_bytes_are_bounded() -> None:
    c = Client(max_held_bytes=1000)
    c.publish_request()
    c.send(6, 9, 1, bytes(600))
    with pytest.raises(RtmpProtocolError, match="awaiting a decision"):
        c.send(6, 9, 1, bytes(600))


def test_empty_stream_name_is_refused() -> None:
    c = Client()
    events = c.publish_request("")
    assert len(events) == 1 and isinstance(events[0], ClosingConnection)
    info = c.reply_commands()[0][3]
    assert isinstance(info, dict)
    assert (info["level"], info["code"]) == ("error", "NetStream.Publish.BadName")


def test_second_publish_on_same_connection_is_refused() -> None:
    c = Client()
    c.publishing()
    assert c.command("publish", 6.0, None, "OTHER", "live", msid=1) == []
    info = c.reply_commands()[0][3]
    assert isinstance(info, dict) and info["level"] == "error"
    assert c.session.publishing


def test_republish_after_unpublish() -> None:
    c = Client()
    c.publishing()
    c.command("FCUnpublish", 6.0, None, "KEY")
    events = c.command("publish", 7.0, None, "KEY2", "live", msid=1)
    assert events == [PublishRequested("KEY2", "", "live")]


def test_publish_types_pass_through() -> None:
    c = Client()
    c.connect()
    assert c.command("publish", 5.0, None, "k", "record", msid=1) == [
        PublishRequested("k", "", "record")
    ]


def test_fail_sends_error_status_and_closes() -> None:
    c = Client()
    c.publishing()
    c.session.fail("HEVC via enhanced RTMP is not supported yet; publish H.264 and AAC")
    info = c.reply_commands()[0][3]
    assert isinstance(info, dict)
    assert info["level"] == "error"
    assert (
        info["description"] == "HEVC via enhanced RTMP is not supported yet; publish H.264 and AAC"
    )
    assert c.session.closed
    c.session.fail("again")  # idempotent
    assert c.replies() == []


def test_fail_during_handshake_sends_nothing() -> None:
    session = RtmpServerSession()
    session.fail("bye")
    assert session.data_to_send() == b""
    assert session.closed


# -- media: Track and Frame events -----------------------------------------------------------

ADVICE = "publish H.264, HEVC or AV1 video (HEVC and AV1 over enhanced RTMP) and AAC audio"


def test_publish_media_comes_out_as_track_and_frame_events() -> None:
    c = Client()
    c.publishing()
    w = c.writer
    # One read holding what ffmpeg sends first: both sequence headers, then frames.
    data = w.write(6, 9, 1, 0, VIDEO_SEQ) + w.write(4, 8, 1, 0, AUDIO_SEQ)
    data += w.write(6, 9, 1, 0, video_frame(key=True))
    data += w.write(4, 8, 1, 23, audio_frame())
    data += w.write(6, 9, 1, 33, video_frame(key=False))
    events = c.session.receive_data(data)
    # The demuxer's own objects, no wrapper: the sink takes them as they are.
    assert [type(e) for e in events] == [Track, Track, Frame, Frame, Frame]
    video, audio, key, aac, inter = events
    assert isinstance(video, Track) and isinstance(audio, Track)
    assert (video.id, video.kind, video.width, video.height) == (
        VIDEO_TRACK_ID,
        TrackKind.VIDEO,
        320,
        240,
    )
    assert video.codec.startswith("avc1.") and video.config == AVCC_320x240
    assert (audio.id, audio.kind, audio.sample_rate, audio.channels) == (
        AUDIO_TRACK_ID,
        TrackKind.AUDIO,
        44100,
        2,
    )
    assert key == Frame(VIDEO_TRACK_ID, 0, 0, True, NAL)
    assert aac == Frame(AUDIO_TRACK_ID, 1014, 1014, True, AAC_AU)  # 23 ms at 44.1 kHz
    assert inter == Frame(VIDEO_TRACK_ID, 33 * 90, 33 * 90, False, NAL)
    # A repeated sequence header is no new track; frames before any header are dropped.
    assert c.send(6, 9, 1, VIDEO_SEQ, ts=66) == []
    c2 = Client()
    c2.publishing()
    assert c2.send(6, 9, 1, video_frame()) == []


def test_republish_starts_a_new_demuxer() -> None:
    c = Client()
    c.publishing()
    (track,) = c.send(6, 9, 1, VIDEO_SEQ)
    c.command("FCUnpublish", 6.0, None, "KEY")
    assert c.send(6, 9, 1, video_frame()) == []  # between publishes: dropped
    c.command("publish", 7.0, None, "KEY", "live", msid=1)
    c.session.accept_publish()
    # The new publish's demuxer knows no track yet: the same header is a Track again.
    assert c.send(6, 9, 1, VIDEO_SEQ) == [track]


def _status_info(c: Client) -> dict[str, object]:
    (reply,) = c.reply_commands()
    assert reply[0] == "onStatus"
    info = reply[3]
    assert isinstance(info, dict)
    return info


@pytest.mark.parametrize(
    ("type_id", "body", "reason"),
    [
        (
            9,
            b"\x1c\x00\x00\x00\x00",
            "HEVC with the non-standard FLV codec id (FLV video codec id 12) is not "
            f"supported yet; {ADVICE}",
        ),
        (
            9,
            b"\x90vp09\x01\x02",
            f"VP9 (enhanced RTMP FourCC vp09) is not supported yet; {ADVICE}",
        ),
        (
            8,
            b"\x2f\xff\xfb",
            f"MP3 audio (FLV sound format 2) is not supported yet; {ADVICE}",
        ),
    ],
)
def test_unsupported_codec_fails_the_publish(type_id: int, body: bytes, reason: str) -> None:
    c = Client()
    c.publishing()
    assert c.send(6, type_id, 1, body) == [ClosingConnection(reason)]
    info = _status_info(c)
    assert info == {"level": "error", "code": "NetStream.Failed", "description": reason}
    assert c.session.closed and not c.session.publishing
    assert c.send(6, 9, 1, VIDEO_SEQ) == []


def test_malformed_flv_tag_fails_the_publish() -> None:
    c = Client()
    c.publishing()
    events = c.send(6, 9, 1, b"\x17\x05\x00\x00\x00")
    assert events == [ClosingConnection("unknown AVCPacketType 5")]
    assert _status_info(c)["description"] == "unknown AVCPacketType 5"
    assert c.session.closed


def test_media_before_a_refused_one_in_the_same_read_is_kept() -> None:
    c = Client()
    c.publishing()
    w = c.writer
    data = w.write(6, 9, 1, 0, VIDEO_SEQ) + w.write(4, 8, 1, 0, b"\x2f\xff\xfb")
    data += w.write(6, 9, 1, 40, video_frame())  # after the refusal: never demuxed
    data += w.write(4, 18, 1, 0, amf0.encode("onMetaData", {"a": 1.0}))
    events = c.session.receive_data(data)
    assert [type(e) for e in events] == [Track, ClosingConnection]
    assert c.session.closed


def test_unsupported_codec_in_an_aggregate_stops_it() -> None:
    c = Client()
    c.publishing()

    def tag(type_id: int, ts: int, body: bytes) -> bytes:
        head = bytes([type_id]) + len(body).to_bytes(3, "big") + ts.to_bytes(3, "big")
        return head + bytes(4) + body + struct.pack(">I", 11 + len(body))

    agg = tag(9, 0, VIDEO_SEQ) + tag(9, 0, b"\x1c\x00\x00\x00\x00") + tag(9, 40, video_frame())
    events = c.send(6, 22, 1, agg)
    assert [type(e) for e in events] == [Track, ClosingConnection]


def test_held_media_with_an_unsupported_codec_fails_on_resume() -> None:
    c = Client()
    c.publish_request()
    c.send(4, 8, 1, b"\x2f\xff\xfb")
    c.session.accept_publish()
    c.replies()
    (event,) = c.session.resume()
    assert isinstance(event, ClosingConnection) and "MP3" in event.reason
    assert c.session.closed


# -- end of input ----------------------------------------------------------------------------


def test_empty_read_is_end_of_input() -> None:
    c = Client()
    c.publishing()
    c.send(6, 9, 1, VIDEO_SEQ)
    assert c.session.receive_data(b"") == [ConnectionEnded()]
    assert c.session.closed and not c.session.publishing
    assert c.session.data_to_send() == b""  # nothing to say to a peer that left
    assert c.session.receive_data(b"") == []  # reported once
    assert c.send(6, 9, 1, video_frame()) == []


def test_end_of_input_in_every_state() -> None:
    session = RtmpServerSession()
    assert session.receive_data(b"") == [ConnectionEnded()]  # before the handshake
    c = Client()
    c.handshake()
    c.session.receive_data(c.writer.write(3, 20, 0, 0, amf0.encode("connect", 1.0))[:5])
    assert c.session.receive_data(b"") == [ConnectionEnded()]  # half a message buffered
    c = Client()
    c.publish_request()
    c.send(6, 9, 1, VIDEO_SEQ)
    assert c.session.receive_data(b"") == [ConnectionEnded()]  # awaiting the decision
    assert c.session.resume() == []  # what was held is dropped
    with pytest.raises(RuntimeError):
        c.session.accept_publish()


def test_end_of_input_after_the_session_refused_the_client() -> None:
    c = Client()
    c.connect(dict(CONNECT_OBJ, app="vod"))
    assert c.session.closed
    assert c.session.receive_data(b"") == [ConnectionEnded()]
    c = Client()
    c.publishing()
    c.send(6, 9, 1, b"\x1c\x00\x00\x00\x00")
    assert c.session.receive_data(b"") == [ConnectionEnded()]


# -- other commands --------------------------------------------------------------------------


def test_play_is_refused() -> None:
    c = Client()
    c.connect()
    c.replies()
    c.command("createStream", 2.0, None)
    c.replies()
    events = c.command("play", 3.0, None, "KEY", msid=1)
    assert len(events) == 1 and isinstance(events[0], ClosingConnection)
    ((name, _, _, info),) = c.reply_commands()
    assert name == "onStatus"
    assert isinstance(info, dict)
    assert (info["level"], info["code"]) == ("error", "NetStream.Play.Failed")
    assert "ingest" in str(info["description"])
    assert c.session.closed


def test_unknown_command_with_transaction_id_gets_error() -> None:
    c = Client()
    c.connect()
    c.replies()
    assert c.command("_checkbw", 9.0, None) == []
    ((name, txid, _, info),) = c.reply_commands()
    assert (name, txid) == ("_error", 9.0)
    assert isinstance(info, dict) and "_checkbw" in str(info["description"])
    assert c.command("someNotification", 0.0, None) == []
    assert c.command("_result", 3.0, None) == []  # never answer a reply
    assert c.replies() == []


def test_second_connect_gets_error() -> None:
    c = Client()
    c.connect()
    c.replies()
    c.command("connect", 2.0, CONNECT_OBJ)
    assert c.reply_commands()[0][0] == "_error"


def test_amf3_command_message() -> None:
    c = Client()
    c.handshake()
    events = c.send(3, 17, 0, b"\x00" + amf0.encode("connect", 1.0, CONNECT_OBJ))
    assert isinstance(events[0], ConnectRequested)


# -- protocol control ------------------------------------------------------------------------


def test_ping_request_gets_ping_response() -> None:
    c = Client()
    c.connect()
    c.replies()
    c.send(2, 4, 0, struct.pack(">HI", 6, 123456))
    (pong,) = c.replies()
    assert (pong.type_id, pong.payload) == (4, struct.pack(">HI", 7, 123456))
    c.send(2, 4, 0, struct.pack(">HII", 3, 1, 3000))  # Set Buffer Length: ignored
    assert c.replies() == []


def test_acknowledgement_when_peer_window_is_crossed() -> None:
    c = Client()
    c.connect()
    c.replies()
    c.send(2, 5, 0, struct.pack(">I", 5000))
    assert c.replies() == []
    c.send(6, 9, 1, bytes(4000))
    acks = [m for m in c.replies() if m.type_id == 3]
    assert len(acks) == 1
    (seq,) = struct.unpack(">I", acks[0].payload)
    assert seq == c.session.bytes_received
    c.send(6, 9, 1, bytes(100))
    assert [m for m in c.replies() if m.type_id == 3] == []


def test_aggregate_message_is_split() -> None:
    c = Client()
    c.publishing()

    def tag(type_id: int, ts: int, body: bytes) -> bytes:
        head = bytes([type_id]) + len(body).to_bytes(3, "big") + (ts & 0xFFFFFF).to_bytes(3, "big")
        head += bytes([ts >> 24]) + bytes(3)
        return head + body + struct.pack(">I", 11 + len(body))

    c.send(6, 9, 1, VIDEO_SEQ)
    c.send(4, 8, 1, AUDIO_SEQ)
    agg = tag(9, 5000, video_frame()) + tag(8, 5010, audio_frame()) + tag(9, 5033, video_frame())
    v1, a1, v2 = c.send(6, 22, 1, agg, ts=100)
    assert v1 == Frame(VIDEO_TRACK_ID, 100 * 90, 100 * 90, True, NAL)
    assert isinstance(a1, Frame) and a1.track_id == AUDIO_TRACK_ID
    assert a1.data == AAC_AU and a1.dts == 110 * 44100 // 1000
    assert v2 == Frame(VIDEO_TRACK_ID, 133 * 90, 133 * 90, True, NAL)
    # Without the last back pointer is fine; anything else cut short is not.
    assert len(c.send(6, 22, 1, agg[:-4], ts=200)) == 3
    with pytest.raises(RtmpProtocolError, match="overruns the aggregate"):
        c.send(6, 22, 1, agg[:-5], ts=100)
    c = Client()
    c.publishing()
    with pytest.raises(RtmpProtocolError, match="no sub-message"):
        c.send(6, 22, 1, agg[: len(agg) - len(tag(9, 5033, video_frame())) + 5], ts=100)


def test_large_video_message_with_default_chunk_size() -> None:
    c = Client()
    c.publishing()
    c.send(6, 9, 1, VIDEO_SEQ)
    nal = bytes(range(256)) * 200
    assert c.send(6, 9, 1, video_frame(data=nal), ts=40) == [
        Frame(VIDEO_TRACK_ID, 40 * 90, 40 * 90, True, nal)
    ]


def test_byte_by_byte_session() -> None:
    c = Client()
    c.handshake()
    w = c.writer
    data = w.write(3, 20, 0, 0, amf0.encode("connect", 1.0, CONNECT_OBJ))
    data += w.write(3, 20, 0, 0, amf0.encode("createStream", 2.0, None))
    data += w.write(8, 20, 1, 0, amf0.encode("publish", 3.0, None, "KEY", "live"))
    events: list[Event] = []
    for i in range(len(data)):
        events += c.session.receive_data(data[i : i + 1])
    assert [type(e) for e in events] == [ConnectRequested, PublishRequested]


# -- fuzz ------------------------------------------------------------------------------------


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_after_handshake_only_raise_protocol_errors(data: bytes) -> None:
    c = Client(max_message_size=10_000)
    c.handshake()
    with contextlib.suppress(RtmpProtocolError):
        c.session.receive_data(data)


_commands = st.sampled_from(
    [
        ("connect", 1.0, CONNECT_OBJ),
        ("releaseStream", 2.0, None, "k"),
        ("FCPublish", 3.0, None, "k"),
        ("createStream", 4.0, None),
        ("publish", 5.0, None, "k", "live"),
        ("play", 6.0, None, "k"),
        ("deleteStream", 7.0, None, 1.0),
        ("FCUnpublish", 8.0, None, "k"),
        ("whatever", 9.0),
        ("publish",),
        ("connect", "x", 3),
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([4, 8, 9, 17, 18, 20, 22, 5, 1, 2, 3]),
            st.binary(max_size=64) | _commands.map(lambda v: amf0.encode(*v)),
        ),
        max_size=12,
    ),
    st.booleans(),
)
def test_random_message_sequences_only_raise_protocol_errors(
    messages: list[tuple[int, bytes]], accept: bool
) -> None:
    c = Client()
    c.handshake()
    try:
        for type_id, payload in messages:
            for event in c.send(3, type_id, 1, payload):
                if isinstance(event, PublishRequested):
                    if accept:
                        c.session.accept_publish()
                    else:
                        c.session.reject_publish("NetStream.Publish.BadName", "no")
                    c.session.resume()
            c.replies()
    except RtmpProtocolError:
        assert c.session.closed


# -- limits for unauthenticated peers ----------------------------------------------------------


def _header_only(csid: int, type_id: int, length: int) -> bytes:
    """A type 0 chunk header announcing a ``length``-byte message, without its body."""
    return bytes([csid]) + bytes(3) + length.to_bytes(3, "big") + bytes([type_id]) + bytes(4)


def test_huge_connect_is_refused_at_its_chunk_header() -> None:
    c = Client()
    c.handshake()
    with pytest.raises(RtmpProtocolError, match=r"16777215 bytes .* exceeds the 65536-byte limit"):
        c.session.receive_data(_header_only(3, 20, 0xFFFFFF) + b"\x05" * 4096)
    assert c.session.closed


def test_media_before_publish_gets_the_command_limit_then_the_media_limit() -> None:
    c = Client(max_command_size=1000, max_message_size=1 << 20)
    c.connect()
    with pytest.raises(RtmpProtocolError, match="exceeds the 1000-byte limit for media"):
        c.session.receive_data(_header_only(6, 9, 1001))
    c = Client(max_command_size=1000, max_message_size=1 << 20)
    c.publishing()
    c.send(6, 9, 1, VIDEO_SEQ)
    nal = bytes(200_000)
    assert c.send(6, 9, 1, video_frame(data=nal)) == [Frame(VIDEO_TRACK_ID, 0, 0, True, nal)]
    # Commands and metadata stay small after publish too.
    with pytest.raises(RtmpProtocolError, match="limit for command/data/control"):
        c.send(4, 18, 1, amf0.encode("@setDataFrame", "onMetaData", {"x": "y" * 1000}))


def test_command_count_before_publish_is_bounded() -> None:
    c = Client(max_commands_before_publish=8)
    c.connect()
    for i in range(7):
        c.command("whatever", float(i + 2))
    with pytest.raises(RtmpProtocolError, match="more than 8 commands before publish"):
        c.command("whatever", 99.0)
    # A publishing client is not counted: ffmpeg sends FCUnpublish/deleteStream at the end.
    c = Client(max_commands_before_publish=6)
    c.publishing()
    c.command("whatever", 50.0)
    c.command("FCUnpublish", 51.0, None, "KEY")


def test_amf0_null_flood_in_connect_is_refused() -> None:
    c = Client()
    c.handshake()
    with pytest.raises(RtmpProtocolError, match=r"malformed AMF0 .* more than 256 AMF0 values"):
        c.send(3, 20, 0, amf0.encode("connect", 1.0) + b"\x05" * 60_000)


def test_unknown_command_reply_does_not_echo_a_long_name() -> None:
    c = Client()
    c.connect()
    c.replies()
    c.command("x" * 60_000, 2.0)
    out = c.session.data_to_send()
    assert len(out) < 400
    ((name, _, _, info),) = [amf0.decode_all(m.payload) for m in c.reader.feed(out)]
    assert name == "_error" and isinstance(info, dict)
    assert "'" + "x" * 64 + "…'" in str(info["description"])


@pytest.mark.parametrize(
    "app",
    ["live/SECRETKEY123", "SECRETKEY123", "live/SECRETKEY123?token=abc", "/live/SECRETKEY123/"],
)
def test_refused_app_holding_a_key_is_masked_in_the_reason(app: str) -> None:
    c = Client()
    (event,) = c.connect(dict(CONNECT_OBJ, app=app))
    assert isinstance(event, ClosingConnection)
    assert "SECRETKEY123" not in event.reason and "SECR…" in event.reason
    assert "token" not in event.reason


def test_message_count_before_publish_is_bounded_and_lifted_by_publish() -> None:
    c = Client(max_messages_before_publish=20)
    c.connect()
    ping = struct.pack(">HI", 6, 1)
    with pytest.raises(RtmpProtocolError, match="more than 20 messages before publish"):
        for _ in range(20):
            c.send(2, 4, 0, ping)
    c = Client(max_messages_before_publish=20)
    c.publishing()
    for _ in range(100):
        c.send(2, 4, 0, ping)


def test_small_chunk_sizes_are_refused() -> None:
    c = Client()
    c.handshake()
    with pytest.raises(RtmpProtocolError, match="below the 128-byte minimum"):
        c.send(2, 1, 0, struct.pack(">I", 1))


def test_mask_key_and_app() -> None:
    from golive.ingest.rtmp.redaction import mask_app, mask_key

    assert mask_key("KEY0123456789") == "KEY0…"
    assert mask_key("live_abcdefghijklmnop") == "live_abcd…"
    assert mask_key("ab_c") == "ab_c"[:4] + "…"
    assert mask_app("live", ("live",)) == "live"
    assert mask_app("live/KEY0123456789?x=y", ("live",)) == "live/KEY0…"
    assert mask_app("KEY0123456789", ("live",)) == "KEY0…"
    assert mask_app("live?key=secret", ("live",)) == "live/…"
