"""Recordings in S3-compatible object storage (AWS S3, MinIO, Ceph, SeaweedFS, R2, ...).

Built on obstore, the Python binding of the Rust ``object_store`` crate: its calls are native
asyncio (no thread pool), and it retries connection errors, timeouts of safe requests and 5xx
answers itself, with exponential backoff bounded by ``max_retries`` and ``retry_timeout``. A
failure that outlasts them is an :class:`ObjectStoreError`; a missing key an
:class:`ObjectNotFound`. Keys are checked as on local disk (:mod:`golive.store.object_key`)
and stored under the bucket's ``prefix``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import obstore
from obstore.exceptions import NotFoundError
from obstore.store import S3Store

from golive.store.object_key import check_key, check_prefix
from golive.store.object_store import ObjectNotFound, ObjectStoreError

if TYPE_CHECKING:
    from obstore.store import ClientConfig, RetryConfig, S3Config

__all__ = ["S3ObjectStore", "is_loopback_url"]

_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,62}")


def is_loopback_url(url: str) -> bool:
    """Whether ``url``'s host is this machine (plain HTTP to it is allowed without asking)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class S3ObjectStore:
    """An :class:`~golive.store.object_store.ObjectStore` in an S3 bucket."""

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        endpoint: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        session_token: str | None = None,
        allow_http: bool | None = None,
        virtual_hosted_style: bool = False,
        connect_timeout: float = 5.0,
        timeout: float = 30.0,
        max_retries: int = 3,
        retry_timeout: float = 30.0,
    ) -> None:
        if not _BUCKET.fullmatch(bucket):
            raise ValueError(f"S3 bucket name {bucket!r}: 2-63 letters, digits, '.', '-', '_'")
        prefix = prefix.strip("/")
        if prefix:
            check_key(prefix)
        if endpoint is not None:
            parts = urlsplit(endpoint)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"S3 endpoint {endpoint!r}: not an http(s) URL")
            if allow_http is None:
                allow_http = parts.scheme == "http" and is_loopback_url(endpoint)
            if parts.scheme == "http" and not allow_http:
                raise ValueError(
                    f"S3 endpoint {endpoint!r}: plain HTTP to a host that is not loopback "
                    "(allow it explicitly with allow_http)"
                )
        if (access_key_id is None) != (secret_access_key is None):
            raise ValueError("S3 object store: an access key id needs its secret, and back")
        self._bucket = bucket
        self._prefix = prefix
        self._endpoint = endpoint
        self._region = region
        config: S3Config = {"region": region}
        if endpoint is not None:
            config["endpoint"] = endpoint.rstrip("/")
        if access_key_id is not None and secret_access_key is not None:
            config["access_key_id"] = access_key_id
            config["secret_access_key"] = secret_access_key
            if session_token:
                config["session_token"] = session_token
        config["virtual_hosted_style_request"] = virtual_hosted_style
        client: ClientConfig = {
            "allow_http": bool(allow_http),
            "connect_timeout": timedelta(seconds=connect_timeout),
            "timeout": timedelta(seconds=timeout),
        }
        retry: RetryConfig = {
            "max_retries": max_retries,
            "retry_timeout": timedelta(seconds=retry_timeout),
            "backoff": {
                "init_backoff": timedelta(milliseconds=100),
                "max_backoff": timedelta(seconds=min(5.0, retry_timeout)),
                "base": 2,
            },
        }
        try:
            self._store = S3Store(
                bucket,
                prefix=prefix or None,
                config=config,
                client_options=client,
                retry_config=retry,
            )
        except Exception as error:  # obstore's configuration errors
            reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise ValueError(f"S3 object store: {type(error).__name__}: {reason}") from None

    @property
    def description(self) -> str:
        where = self._endpoint or f"AWS {self._region}"
        path = f"{self._bucket}/{self._prefix}" if self._prefix else self._bucket
        return f"S3 bucket {path} at {where}"

    def __repr__(self) -> str:
        return f"S3ObjectStore({self.description!r})"

    def _error(self, operation: str, key: str, error: Exception) -> ObjectStoreError:
        if _not_found(error):
            return ObjectNotFound(f"{self.description}: no object {key!r}")
        # obstore's messages name the request and the cause, never the credentials.
        reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
        return ObjectStoreError(
            f"{self.description}: {operation} {key!r}: {type(error).__name__}: {reason}"
        )

    async def put(self, key: str, data: bytes | memoryview) -> None:
        check_key(key)
        try:
            await obstore.put_async(self._store, key, bytes(data))
        except Exception as error:
            raise self._error("put", key, error) from error

    async def put_file(self, key: str, path: Path) -> None:
        check_key(key)
        try:
            # obstore streams a file (multipart when large): it is never read whole.
            await obstore.put_async(self._store, key, path)
        except Exception as error:
            raise self._error("put", key, error) from error

    async def copy(self, source: str, destination: str) -> None:
        check_key(source)
        check_key(destination)
        try:
            # CopyObject: the bytes stay in the bucket.
            await obstore.copy_async(self._store, source, destination)
        except Exception as error:
            raise self._error("copy", source, error) from error

    async def get(self, key: str, start: int = 0, end: int | None = None) -> bytes:
        check_key(key)
        if start < 0 or (end is not None and end < start):
            raise ValueError(f"byte range [{start}, {end}) of {key!r}")
        try:
            if start == 0 and end is None:
                result = await obstore.get_async(self._store, key)
                return bytes(await result.bytes_async())
            if start == end:
                await self._head_size(key)  # an HTTP range cannot be empty; missing still raises
                return b""
            if end is None:
                result = await obstore.get_async(
                    self._store, key, options={"range": {"offset": start}}
                )
                return bytes(await result.bytes_async())
            return bytes(await obstore.get_range_async(self._store, key, start=start, end=end))
        except Exception as error:
            if _range_not_satisfiable(error):
                # The range starts at or after the end: no bytes, as on local disk (and a
                # missing key is still ObjectNotFound).
                await self.size(key)
                return b""
            raise self._error("get", key, error) from error

    async def _head_size(self, key: str) -> int:
        meta = await obstore.head_async(self._store, key)
        return int(meta["size"])

    async def size(self, key: str) -> int:
        check_key(key)
        try:
            return await self._head_size(key)
        except Exception as error:
            raise self._error("size", key, error) from error

    async def delete(self, key: str) -> None:
        check_key(key)
        try:
            await obstore.delete_async(self._store, key)
        except Exception as error:
            if _not_found(error):
                return
            raise self._error("delete", key, error) from error

    async def list(self, prefix: str) -> AsyncIterator[str]:
        check_prefix(prefix)
        # obstore matches prefixes segment by segment ("a/b" lists "a/b/x", not "a/bc"): list
        # the directory part and keep the keys that start with the whole prefix.
        directory = prefix.rpartition("/")[0]
        try:
            # collect_async, not ``async for``: an obstore list stream iterated with async for
            # and left to the garbage collector aborted the interpreter at exit (obstore 0.12).
            found = await obstore.list(
                self._store, directory or None, chunk_size=1000
            ).collect_async()
        except Exception as error:
            raise self._error("list", prefix, error) from error
        for meta in found:
            if meta["path"].startswith(prefix):
                yield meta["path"]

    async def close(self) -> None:
        # obstore holds a connection pool that goes with the store object; nothing to flush.
        return None


def _not_found(error: Exception) -> bool:
    # obstore raises FileNotFoundError for a missing object (NotFoundError in some versions).
    return isinstance(error, FileNotFoundError | NotFoundError)


def _range_not_satisfiable(error: Exception) -> bool:
    return "416 Range Not Satisfiable" in str(error) or "InvalidRange" in str(error)
