"""The ffmpeg command line of one stream's transcoder.

One child per live stream: FLV video in on stdin, decoded once, split, each branch decimated
(if the rung caps the frame rate) and scaled, encoded once per rendition, and every rendition
written as FLV to its own pipe. Key points:

- ``-copyts``, ``-fps_mode passthrough`` and a millisecond encoder time base keep every
  output frame on its input frame's timestamp to the millisecond, so renditions share the
  source's timeline; no frame is duplicated.
- ``-force_key_frames source`` (with IDR forcing) puts a keyframe on every frame that was a
  keyframe in the source, and the encoder's own interval (``-g``) is long, with scene-cut
  detection off, so keyframes land only there: segment boundaries line up across renditions.
- ``-probesize 32 -analyzeduration 0`` start decoding on the first tags instead of probing
  for seconds; ``-flush_packets 1`` hands every packet to the pipe at once.
- The decoder runs single-threaded: frame threading would hold frames back (one frame of
  latency per thread), and a single 1080p H.264 decode is well within one core.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from golive.transcode.ladder import EncodedRendition

__all__ = ["ENCODERS", "EncoderOptions", "ffmpeg_arguments"]

ENCODERS = ("libx264", "h264_nvenc", "h264_vaapi", "h264_qsv")
# Slack below one output frame interval when decimating, for millisecond timestamp jitter.
_DECIMATE_SLACK = 0.004


@dataclass(frozen=True, slots=True)
class EncoderOptions:
    """How renditions are encoded: the encoder, its speed preset and hardware device."""

    encoder: str = "libx264"
    preset: str = "veryfast"
    hw_device: str = ""  # h264_vaapi: DRM render node; h264_qsv: optional device
    gop_seconds: float = 10.0  # the encoder's own keyframe interval: longer than any source's
    loglevel: str = "warning"

    def __post_init__(self) -> None:
        if self.encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {', '.join(ENCODERS)}")


def _branch_filters(rendition: EncodedRendition, options: EncoderOptions) -> str:
    filters: list[str] = []
    if rendition.fps > 0:
        # Keep a frame when it is a keyframe (so forced keyframes survive), the first one, or
        # at least one output frame interval after the last kept frame. A source at or below
        # the rung's rate passes unchanged.
        interval = 1 / rendition.fps - _DECIMATE_SLACK
        filters.append(f"select='isnan(prev_selected_t)+key+gte(t-prev_selected_t,{interval:.4f})'")
    filters.append(f"scale={rendition.width}:{rendition.height}")
    if options.encoder == "h264_vaapi":
        filters += ["format=nv12", "hwupload"]
    elif options.encoder == "h264_qsv":
        filters += ["format=nv12", "hwupload=extra_hw_frames=64"]
    else:
        filters.append("format=yuv420p")
    return ",".join(filters)


def filter_graph(renditions: Sequence[EncodedRendition], options: EncoderOptions) -> str:
    """``[0:v]`` split into one labelled branch ``[vN]`` per rendition."""
    if len(renditions) == 1:
        return f"[0:v]{_branch_filters(renditions[0], options)}[v0]"
    split = f"[0:v]split={len(renditions)}" + "".join(f"[s{i}]" for i in range(len(renditions)))
    branches = [f"[s{i}]{_branch_filters(r, options)}[v{i}]" for i, r in enumerate(renditions)]
    return ";".join([split, *branches])


def _encoder_arguments(rendition: EncodedRendition, options: EncoderOptions) -> list[str]:
    rate = str(rendition.bitrate)
    gop = str(max(1, round((rendition.fps or 60) * options.gop_seconds)))
    common = ["-b:v", rate, "-maxrate", rate, "-bufsize", rate, "-g", gop, "-bf", "0"]
    encoder = options.encoder
    if encoder == "libx264":
        return [
            "-c:v", "libx264", "-preset", options.preset, "-tune", "zerolatency",
            *common, "-sc_threshold", "0", "-forced-idr", "1",
        ]  # fmt: skip
    if encoder == "h264_nvenc":
        return [
            "-c:v", "h264_nvenc", "-preset", "p3", "-tune", "ll", "-rc", "cbr",
            "-zerolatency", "1", *common, "-forced-idr", "1",
        ]  # fmt: skip
    if encoder == "h264_vaapi":
        return ["-c:v", "h264_vaapi", "-rc_mode", "CBR", *common]
    return ["-c:v", "h264_qsv", "-preset", "veryfast", *common, "-forced_idr", "1"]


def ffmpeg_arguments(
    binary: str,
    renditions: Sequence[EncodedRendition],
    output_fds: Sequence[int],
    options: EncoderOptions,
) -> list[str]:
    """argv for one transcoder child: stdin FLV in, rendition ``i`` as FLV on ``output_fds[i]``."""
    if not renditions or len(renditions) != len(output_fds):
        raise ValueError("one output pipe per rendition, and at least one rendition")
    args = [binary, "-hide_banner", "-nostats", "-loglevel", options.loglevel]
    if options.encoder == "h264_vaapi":
        args += ["-vaapi_device", options.hw_device or "/dev/dri/renderD128"]
    elif options.encoder == "h264_qsv":
        device = f"qsv=hw:{options.hw_device}" if options.hw_device else "qsv=hw"
        args += ["-init_hw_device", device, "-filter_hw_device", "hw"]
    args += [
        "-threads", "1", "-probesize", "32", "-analyzeduration", "0",
        "-copyts", "-f", "flv", "-i", "pipe:0",
        "-filter_complex", filter_graph(renditions, options),
    ]  # fmt: skip
    for i, (rendition, fd) in enumerate(zip(renditions, output_fds, strict=True)):
        args += ["-map", f"[v{i}]", *_encoder_arguments(rendition, options)]
        args += [
            "-force_key_frames", "source", "-fps_mode", "passthrough",
            "-enc_time_base", "1:1000", "-flush_packets", "1", "-flvflags", "no_duration_filesize",
            "-f", "flv", f"pipe:{fd}",
        ]  # fmt: skip
    return args
