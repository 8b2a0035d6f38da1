"""Which storage backend a ``recording_storage`` setting names.

* ``""`` (unset): local disk, ``<data_dir>/recordings``.
* ``file:///absolute/path``: local disk at that path.
* ``s3://bucket/optional/prefix?endpoint=...&region=...``: an S3-compatible bucket. Query
  parameters: ``endpoint`` (``http://127.0.0.1:9000`` for MinIO/SeaweedFS on loopback; plain
  HTTP elsewhere needs ``allow_http=true``), ``region`` (default ``us-east-1``, or
  ``AWS_REGION``/``AWS_DEFAULT_REGION``), ``virtual_hosted_style`` (``true``/``false``),
  ``connect_timeout``, ``timeout``, ``retry_timeout`` (seconds), ``max_retries``.
  Credentials come from the environment (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
  ``AWS_SESSION_TOKEN``: preferred, since a URL ends up in config files and process lists) or
  from the ``access_key_id`` and ``secret_access_key`` query parameters, which win over the
  environment when given. ``description`` never shows a secret.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from golive.store.local_object_store import LocalObjectStore
from golive.store.object_store import ObjectStore

__all__ = ["open_object_store", "redact_object_store_url"]

_S3_PARAMETERS = frozenset(
    {
        "endpoint",
        "region",
        "access_key_id",
        "secret_access_key",
        "session_token",
        "allow_http",
        "virtual_hosted_style",
        "connect_timeout",
        "timeout",
        "retry_timeout",
        "max_retries",
    }
)
_SECRET_PARAMETERS = frozenset({"secret_access_key", "session_token"})


def redact_object_store_url(url: str) -> str:
    """``url`` with the values of secret query parameters replaced, for messages."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    pairs = []
    for pair in parts.query.split("&"):
        name, equals, _ = pair.partition("=")
        pairs.append(f"{name}=***" if equals and name in _SECRET_PARAMETERS else pair)
    return parts._replace(query="&".join(pairs)).geturl()


def open_object_store(
    url: str, data_dir: Path, environ: Mapping[str, str] | None = None
) -> ObjectStore:
    """The backend ``url`` names (see the module docstring); ValueError for a bad URL."""
    environ = os.environ if environ is None else environ
    url = url.strip()
    if not url:
        return LocalObjectStore(data_dir / "recordings")
    shown = redact_object_store_url(url)
    try:
        parts = urlsplit(url)
    except ValueError as error:
        raise ValueError(f"recording storage {shown!r}: {error}") from None
    if parts.scheme == "file":
        return _local(parts.netloc, parts.path, parts.query, shown)
    if parts.scheme == "s3":
        return _s3(parts.netloc, parts.path, parts.query, shown, environ)
    raise ValueError(
        f"recording storage {shown!r}: unknown scheme {parts.scheme!r} "
        "(use file:///absolute/path or s3://bucket/prefix)"
    )


def _local(host: str, path: str, query: str, shown: str) -> ObjectStore:
    if host not in ("", "localhost"):
        raise ValueError(f"recording storage {shown!r}: a file URL names no host (file:///path)")
    if query:
        raise ValueError(f"recording storage {shown!r}: a file URL takes no query")
    directory = unquote(path)
    if not directory.startswith("/") or "\x00" in directory:
        raise ValueError(f"recording storage {shown!r}: needs an absolute path (file:///path)")
    if any(segment == ".." for segment in directory.split("/")):
        raise ValueError(f"recording storage {shown!r}: '..' in the path")
    return LocalObjectStore(Path(directory))


def _s3(host: str, path: str, query: str, shown: str, environ: Mapping[str, str]) -> ObjectStore:
    from golive.store.s3_object_store import S3ObjectStore

    if "@" in host:
        raise ValueError(
            f"recording storage {shown!r}: no credentials in the host part "
            "(use AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)"
        )
    bucket = host
    if not bucket:
        raise ValueError(f"recording storage {shown!r}: no bucket (s3://bucket/prefix)")
    try:
        parameters = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise ValueError(f"recording storage {shown!r}: malformed query") from None
    unknown = sorted(set(parameters) - _S3_PARAMETERS)
    if unknown:
        raise ValueError(
            f"recording storage {shown!r}: unknown parameter(s) {', '.join(unknown)} "
            f"(known: {', '.join(sorted(_S3_PARAMETERS))})"
        )
    repeated = sorted(name for name, values in parameters.items() if len(values) > 1)
    if repeated:
        raise ValueError(f"recording storage {shown!r}: repeated {', '.join(repeated)}")
    given = {name: values[0] for name, values in parameters.items()}

    def number(name: str, default: float) -> float:
        if name not in given:
            return default
        try:
            value = float(given[name])
        except ValueError:
            raise ValueError(f"recording storage {shown!r}: {name} is not a number") from None
        if not value > 0 or value == float("inf"):
            raise ValueError(f"recording storage {shown!r}: {name} must be positive")
        return value

    def flag(name: str) -> bool | None:
        if name not in given:
            return None
        value = given[name].lower()
        if value not in ("true", "false", "1", "0"):
            raise ValueError(f"recording storage {shown!r}: {name} must be true or false")
        return value in ("true", "1")

    max_retries = given.get("max_retries", "3")
    if not max_retries.isdigit():
        raise ValueError(f"recording storage {shown!r}: max_retries must be a whole number")
    access_key_id = given.get("access_key_id") or environ.get("AWS_ACCESS_KEY_ID") or None
    secret_access_key = (
        given.get("secret_access_key") or environ.get("AWS_SECRET_ACCESS_KEY") or None
    )
    if (access_key_id is None) != (secret_access_key is None):
        raise ValueError(
            f"recording storage {shown!r}: an access key id without its secret, or the reverse"
        )
    region = (
        given.get("region")
        or environ.get("AWS_REGION")
        or environ.get("AWS_DEFAULT_REGION")
        or "us-east-1"
    )
    try:
        return S3ObjectStore(
            bucket,
            prefix=unquote(path).strip("/"),
            endpoint=given.get("endpoint") or None,
            region=region,
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
            session_token=given.get("session_token") or environ.get("AWS_SESSION_TOKEN") or None,
            allow_http=flag("allow_http"),
            virtual_hosted_style=bool(flag("virtual_hosted_style")),
            connect_timeout=number("connect_timeout", 5.0),
            timeout=number("timeout", 30.0),
            retry_timeout=number("retry_timeout", 30.0),
            max_retries=int(max_retries),
        )
    except ValueError as error:
        raise ValueError(f"recording storage {shown!r}: {error}") from None
