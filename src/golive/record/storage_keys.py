"""Storage keys of a recording's objects, made only of its id, a rendition name and integers:
``<recording id>/<rendition>/<sequence>.m4s`` and ``.../init-<sequence>.mp4``, relative to the
object store's root; once the recording is finished, its playlists ``<recording id>/index.m3u8``,
``<recording id>/manifest.mpd`` and ``<recording id>/<rendition>/index.m3u8``.

Nothing a user types reaches a key: the recording id is random (``new_recording_id``),
rendition names come from the ladder and must match a strict pattern, the rest are integers.
A name that does not match is refused (``UnsafeKey``) rather than cleaned up, so two names
can never map to one key.

**Fenced writers.** In a cluster a recording is written under its publish lease's fencing
token, and a node that takes a channel over continues the recording with a larger one
(docs/scale-out.md). Its media objects go in a folder of that token,
``<recording id>/<rendition>/t<token>/<sequence>.m4s``, so an upload a stale node still had in
flight lands beside them, never on them: the same sequence number under two tokens is two
keys, and the index (fenced too) names only the holder's. A single process writes with
token 0 and keeps the plain layout.
"""

from __future__ import annotations

import re
import secrets

RECORDING_ID_RE = re.compile(r"[A-Za-z0-9_-]{16,32}")
RENDITION_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")


class UnsafeKey(ValueError):
    """A recording id or rendition name that may not be part of a storage key."""


def new_recording_id() -> str:
    """96 random bits, URL-safe (16 characters)."""
    return secrets.token_urlsafe(12)


def _checked(recording_id: str, rendition: str) -> str:
    if RECORDING_ID_RE.fullmatch(recording_id) is None:
        raise UnsafeKey(f"recording id {recording_id!r}")
    if RENDITION_RE.fullmatch(rendition) is None:
        raise UnsafeKey(f"rendition name {rendition!r}")
    return f"{recording_id}/{rendition}"


def check_rendition(recording_id: str, rendition: str) -> None:
    """Raise UnsafeKey unless both may be part of a key."""
    _checked(recording_id, rendition)


def _folder(recording_id: str, rendition: str, fence_token: int) -> str:
    folder = _checked(recording_id, rendition)
    return f"{folder}/t{int(fence_token)}" if fence_token > 0 else folder


def segment_key(recording_id: str, rendition: str, sequence: int, fence_token: int = 0) -> str:
    return f"{_folder(recording_id, rendition, fence_token)}/{int(sequence)}.m4s"


def init_key(recording_id: str, rendition: str, number: int, fence_token: int = 0) -> str:
    """The init segment first used by segment ``number`` of the rendition."""
    return f"{_folder(recording_id, rendition, fence_token)}/init-{int(number)}.mp4"


def rendition_relative(key: str, rendition: str) -> str:
    """``key`` relative to its rendition's folder (where its media playlist is): the file
    name, after its token folder if it has one. Recording ids, clip ids and the clips root
    hold no slash-delimited rendition name, so the first ``/<rendition>/`` is the one."""
    _, found, rest = key.partition(f"/{rendition}/")
    if not found:
        raise UnsafeKey(f"{key!r} is not in rendition {rendition!r}")
    return rest


def recording_prefix(recording_id: str) -> str:
    """Every key of a recording starts with this."""
    if RECORDING_ID_RE.fullmatch(recording_id) is None:
        raise UnsafeKey(f"recording id {recording_id!r}")
    return f"{recording_id}/"


def media_playlist_key(recording_id: str, rendition: str) -> str:
    """A rendition's VOD media playlist, beside its segments."""
    return f"{_checked(recording_id, rendition)}/index.m3u8"


def multivariant_key(recording_id: str) -> str:
    """The VOD's multivariant playlist: written last, so its presence means the VOD is whole."""
    return f"{recording_prefix(recording_id)}index.m3u8"


def mpd_key(recording_id: str) -> str:
    """The VOD's static DASH MPD."""
    return f"{recording_prefix(recording_id)}manifest.mpd"


def download_key(recording_id: str) -> str:
    """The VOD's MP4 download (``mp4_export``)."""
    return f"{recording_prefix(recording_id)}download.mp4"


def thumbnail_key(recording_id: str) -> str:
    """The VOD's still (``vod_thumbnail``)."""
    return f"{recording_prefix(recording_id)}thumbnail.jpg"


# -- clips ---------------------------------------------------------------------------------------
# A clip is a copy of the segments it covers, under ``clips/<clip id>/`` (no recording id can
# be ``clips``: ids are 16 characters or more), laid out as a recording is:
# ``clips/<id>/<rendition>/<n>.m4s``, ``.../init-<n>.mp4`` (n counted from 0 in the clip),
# its playlists, ``thumbnail.jpg`` and ``download.mp4``.
CLIPS_ROOT = "clips/"


def new_clip_id() -> str:
    """Random and URL-safe, the shape of a recording id (so the same checks apply)."""
    return new_recording_id()


def clip_prefix(clip_id: str) -> str:
    """Every key of a clip starts with this."""
    return CLIPS_ROOT + recording_prefix(clip_id)


def clip_segment_key(clip_id: str, rendition: str, number: int) -> str:
    return CLIPS_ROOT + segment_key(clip_id, rendition, number)


def clip_init_key(clip_id: str, rendition: str, number: int) -> str:
    return CLIPS_ROOT + init_key(clip_id, rendition, number)


def clip_thumbnail_key(clip_id: str) -> str:
    return f"{clip_prefix(clip_id)}thumbnail.jpg"


def clip_download_key(clip_id: str) -> str:
    return f"{clip_prefix(clip_id)}download.mp4"
