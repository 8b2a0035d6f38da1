"""PART-HOLD-BACK is the configured multiple of PART-TARGET as both are written: never less (RFC
8216bis 4.4.3.8 requires at least 2, recommends 3; golive's default is 2), never more than needed.
"""

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


@pytest.mark.parametrize("factor", [2.0, 3.0])
@pytest.mark.parametrize("part_target", PART_TARGETS)
def test_part_hold_back_is_the_multiple_of_part_target_as_written(
    part_target: float, factor: float
) -> None:
    writer = MediaPlaylistWriter(uri_prefix="t/", part_hold_back_factor=factor)
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
    least = Decimal(str(factor)) * Decimal(written_target.group(1))
    assert hold_back >= least, text
    # ...and no further back than needed: the player's target latency is this figure.
    assert hold_back - least < Decimal("0.00002"), text
