"""Byte strategies shared by the fuzz properties: valid samples with a few mutations."""

from __future__ import annotations

from hypothesis import strategies as st


@st.composite
def mutated(draw: st.DrawFn, sample: bytes, max_edits: int = 4) -> bytes:
    """``sample`` with up to ``max_edits`` byte replacements, insertions, deletions or a cut."""
    data = bytearray(sample)
    for _ in range(draw(st.integers(0, max_edits))):
        op = draw(st.sampled_from(["set", "insert", "delete", "cut"]))
        at = draw(st.integers(0, len(data)))
        if op == "set" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=4))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 4))]
        elif op == "cut":
            del data[at:]
    return bytes(data)
