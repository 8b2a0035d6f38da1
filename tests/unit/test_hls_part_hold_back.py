"""PART-HOLD-BACK is at least three times PART-TARGET as both are written (RFC 8216bis 4.4.3.8)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from golive.packager.hls_playlist import MediaPlaylistWriter
from golive.store.live_window import StoredSegment

# The PART-TARGETs the segmenter advertises: whole frames plus its jitter slack (5 ms), at
# 30 and 29.97 frame/s, e.g. 0.27167 (8 frames at 30 frame/s), which was written with a
# PART-HOLD-BACK of 0.815 (< 3 x 0.27167).
PART_TARGETS = [n / 30 + 0.005 for n in range(3, 31)] + [n * 1001 / 30000 + 0.005 for n in (3, 6)]


@pytest.mark.parametrize("part_target", PART_TARGETS)
def test_part_hold_back_is_three_part_targets_as_written(part_target: float) -> None:
    writer = MediaPlaylistWriter(uri_prefix="t/")
    segment = StoredSegment(msn=0, init_id=0, discontinuity=False, program_date_time=0.0)
    text = writer.render(
        [segment],
        target_duration=2,
        part_target=part_target,
        discontinuity_sequence=0,
        preload_hint=(0, 0),
    )
    assert text is not None
    written_target = re.search(r"PART-TARGET=([\d.]+)", text)
    written_hold_back = re.search(r"PART-HOLD-BACK=([\d.]+)", text)
    assert written_target and written_hold_back, text
    hold_back = Decimal(written_hold_back.group(1))
    assert hold_back >= 3 * Decimal(written_target.group(1)), text
    # ...and no further back than needed: the player's target latency is this figure.
    assert hold_back - 3 * Decimal(written_target.group(1)) < Decimal("0.00002"), text
