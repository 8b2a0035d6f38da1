"""Removing every object under a prefix (a deleted or expired recording's ``<id>/``)."""

from __future__ import annotations

from golive.store.object_key import check_prefix
from golive.store.object_store import ObjectStore

__all__ = ["delete_prefix"]


async def delete_prefix(store: ObjectStore, prefix: str) -> int:
    """Delete every object whose key starts with ``prefix``; return how many there were.

    ``prefix`` must name a directory (``"abc/"``): an empty one would empty the store. The
    keys are listed first, then deleted one by one; an :class:`ObjectStoreError` stops it
    part-way, and calling it again finishes the job (deleting is idempotent).
    """
    check_prefix(prefix)
    if not prefix.endswith("/") or prefix == "/":
        raise ValueError(f"object key prefix {prefix!r}: must name a directory")
    keys = [key async for key in store.list(prefix)]
    for key in keys:
        await store.delete(key)
    return len(keys)
