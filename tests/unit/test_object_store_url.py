"""open_object_store: which backend a recording_storage URL names, and the errors for bad ones."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from golive.config import Settings
from golive.store.local_object_store import LocalObjectStore
from golive.store.object_store_url import open_object_store, redact_object_store_url
from golive.store.s3_object_store import S3ObjectStore

SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"


def test_empty_is_local_disk_under_the_data_dir(tmp_path: Path) -> None:
    for url in ("", "  "):
        store = open_object_store(url, tmp_path)
        assert isinstance(store, LocalObjectStore)
        assert store.root == tmp_path / "recordings"


def test_file_url_is_local_disk_there(tmp_path: Path) -> None:
    store = open_object_store(f"file://{tmp_path}/rec%20ordings", Path("/unused"))
    assert isinstance(store, LocalObjectStore)
    assert store.root == tmp_path / "rec ordings"


def test_s3_url(tmp_path: Path) -> None:
    store = open_object_store(
        "s3://golive-rec/site/a?endpoint=http://127.0.0.1:9000&region=eu-west-1&timeout=5",
        tmp_path,
        environ={"AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": SECRET},
    )
    assert isinstance(store, S3ObjectStore)
    assert store.description == "S3 bucket golive-rec/site/a at http://127.0.0.1:9000"


def test_secrets_never_in_description_or_errors(tmp_path: Path) -> None:
    url = f"s3://b1/p?endpoint=http://127.0.0.1:9000&access_key_id=AKID&secret_access_key={SECRET}"
    store = open_object_store(url, tmp_path, environ={})
    assert SECRET not in store.description
    assert SECRET not in repr(store)
    with pytest.raises(ValueError) as caught:
        open_object_store(url + "&bogus=1", tmp_path, environ={})
    assert SECRET not in str(caught.value)
    assert "bogus" in str(caught.value)
    assert SECRET not in redact_object_store_url(url)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://host/x", "unknown scheme"),
        ("/plain/path", "unknown scheme"),
        ("file://host/x", "names no host"),
        ("file://relative", "names no host"),
        ("file:///a/../b", "'..'"),
        ("file:///a?x=1", "no query"),
        ("s3:///prefix", "no bucket"),
        ("s3://user:pw@bucket/x", "no credentials in the host"),
        ("s3://b!d/x", "bucket name"),
        ("s3://bucket/x?endpoint=ftp://h", "not an http"),
        ("s3://bucket/x?endpoint=http://minio.example:9000", "plain HTTP"),
        ("s3://bucket/x?timeout=soon", "not a number"),
        ("s3://bucket/x?timeout=-1", "positive"),
        ("s3://bucket/x?max_retries=-1", "whole number"),
        ("s3://bucket/x?allow_http=maybe", "true or false"),
        ("s3://bucket/x?region=a&region=b", "repeated"),
        ("s3://bucket/x?access_key_id=only", "without its secret"),
        ("s3://bucket/../x", "segment starts with '.'"),
    ],
)
def test_bad_urls(tmp_path: Path, url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        open_object_store(url, tmp_path, environ={})


def test_plain_http_elsewhere_when_asked(tmp_path: Path) -> None:
    store = open_object_store(
        "s3://bucket?endpoint=http://minio.lan:9000&allow_http=true", tmp_path, environ={}
    )
    assert isinstance(store, S3ObjectStore)


def test_setting_is_checked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GOLIVE_RECORDING_STORAGE", f"file://{tmp_path}/rec")
    assert Settings().recording_storage == f"file://{tmp_path}/rec"
    monkeypatch.setenv("GOLIVE_RECORDING_STORAGE", "s3://?endpoint=x")
    with pytest.raises(ValidationError, match="recording_storage"):
        Settings()
    monkeypatch.delenv("GOLIVE_RECORDING_STORAGE")
    assert Settings().recording_storage == ""
