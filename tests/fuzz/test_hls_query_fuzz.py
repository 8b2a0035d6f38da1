"""The LL-HLS origin answers any query parameters (_HLS_msn, _HLS_part, _HLS_skip, CMCD) and
any media path with a client error or a playlist, never a server error."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from golive.http.app import create_app
from golive.http.live_media import LiveMediaEndpoint
from golive.packager.hls_stream import HlsStreamPackager
from golive.store.live_window import LiveStore
from golive.store.viewer_sessions import ViewerSessions
from tests.fuzz.profiles import fuzz_settings
from tests.support.synthetic import AUDIO, VIDEO, av_frames

TOKEN = "0badc0de"


class Origin:
    """An origin serving one ended stream (so no blocking request waits) on its own loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        store = LiveStore()
        media = store.open("demo", TOKEN)
        packager = HlsStreamPackager(
            media, part_target=0.2, segment_target=1.0, window_segments=10, clock=lambda: 1e9
        )
        packager.on_tracks([VIDEO, AUDIO])
        for frame in av_frames(4.0):
            packager.on_frame(frame)
        packager.on_end()

        async def channel_exists(name: str) -> bool:
            return name == "demo"

        self.endpoint = LiveMediaEndpoint(store, ViewerSessions())
        app = create_app(store, channel_exists=channel_exists, media=self.endpoint)
        # raise_app_exceptions: an exception in the app fails the test with its traceback.
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
        self.client = httpx.AsyncClient(transport=transport, base_url="http://origin")

    def get(self, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return self.loop.run_until_complete(
            asyncio.wait_for(self.client.get(url, headers=headers), timeout=10)
        )

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()


@pytest.fixture(scope="module")
def origin() -> Iterator[Origin]:
    server = Origin()
    yield server
    server.close()


def _assert_answered(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text)
    assert response.status_code in (200, 400, 404), (response.status_code, response.text)
    assert response.status_code == 200 or response.text.strip()  # an error says what is wrong


# Values that are numbers, nearly numbers, or hostile text.
_numbers = st.one_of(
    st.integers(0, 20).map(str),
    st.integers(-5, 10**13).map(str),
    st.sampled_from(
        ["", " 1", "1 ", "+1", "-0", "0x10", "1e3", "\u0661", "\u00b2", "00000000000001"]
    ),
    st.text(max_size=16),
)
_skip = st.sampled_from(["YES", "v2", "yes", "NO", "", "YES,v2"]) | st.text(max_size=8)
_cmcd = st.one_of(
    st.sampled_from(['sid="abc"', "sid=", "sid", 'br=300,sid="x"', ",,,", "sid=" + "x" * 500]),
    st.text(max_size=64),
)
_param = st.sampled_from(["_HLS_msn", "_HLS_part", "_HLS_skip", "CMCD"])


@st.composite
def queries(draw: st.DrawFn) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for name in draw(st.lists(_param, max_size=5)):
        value = {"_HLS_skip": _skip, "CMCD": _cmcd}.get(name, _numbers)
        pairs.append((name, draw(value)))
    return pairs


def _url(path: str, pairs: list[tuple[str, str]]) -> str:
    query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)
    return f"{path}?{query}" if query else path


@fuzz_settings
@given(
    rendition=st.sampled_from(["source", "audio", "nope"]),
    pairs=queries(),
    cmcd_header=st.none() | _cmcd,
)
@example(
    rendition="source", pairs=[("_HLS_msn", "3"), ("_HLS_part", "99999999999")], cmcd_header=None
)
@example(rendition="source", pairs=[("_HLS_part", "1")], cmcd_header=None)
@example(rendition="source", pairs=[("_HLS_msn", "2"), ("_HLS_skip", "v2")], cmcd_header=None)
def test_playlist_query_parameters(
    origin: Origin, rendition: str, pairs: list[tuple[str, str]], cmcd_header: str | None
) -> None:
    headers = {"cmcd-session": cmcd_header} if cmcd_header is not None else None
    try:
        response = origin.get(_url(f"/live/demo/{rendition}/index.m3u8", pairs), headers)
    except UnicodeEncodeError:
        return  # httpx refuses a non-latin-1 header before it reaches the origin
    _assert_answered(response)


_segment_names = st.one_of(
    st.tuples(st.integers(0, 30), st.none() | st.integers(0, 12)).map(
        lambda t: f"{t[0]}.m4s" if t[1] is None else f"{t[0]}.{t[1]}.m4s"
    ),
    st.integers(0, 10**12).map(lambda n: f"{n}.0.m4s"),
    st.integers(0, 10**6).map(lambda n: f"init-{n}.mp4"),
    st.text(max_size=20).map(lambda t: quote(t, safe="")),
)


@fuzz_settings
@given(
    channel=st.sampled_from(["demo", "other"])
    | st.text(max_size=8).map(lambda t: quote(t, safe="")),
    rendition=st.sampled_from(["source", "audio"]),
    token=st.sampled_from([TOKEN, "00000000", "0BADC0DE"]),
    name=_segment_names,
    pairs=queries(),
)
def test_media_paths(
    origin: Origin,
    channel: str,
    rendition: str,
    token: str,
    name: str,
    pairs: list[tuple[str, str]],
) -> None:
    path = f"/live/{channel}/{rendition}/{token}/{name}"
    _assert_answered(origin.get(_url(path, pairs)))
