"""The protocol-neutral publish admission: each refusal with its reason, in order, and the
RTMP answer each reason gets."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pytest

from golive.ingest.rtmp.admission_answer import REFUSAL_STATUS, rtmp_authorizer
from golive.ingest.rtmp.server import PublishRefused, PublishRequest
from golive.live.channel_claims import ChannelClaims, ClaimsUnavailable
from golive.live.lease_keeper import LeaseKeeper
from golive.live.publish_admission import (
    AdmissionRefused,
    AdmissionUnavailable,
    PublishAdmission,
    PublishAttempt,
    RefusalReason,
)
from golive.live.publish_attempts import PublishAttemptLimits, PublishAttempts
from golive.live.publish_lease import LocalPublishLeases
from golive.live.stream_key_watch import StreamKeyWatch
from tests.unit.test_live_registry import make_registry


@dataclass
class Channel:
    name: str
    record: bool = True


@dataclass
class Decision:
    allowed: bool
    reason: str = ""


class Hook:
    def __init__(self, decision: Decision) -> None:
        self.enabled = True
        self.decision = decision
        self.asked: list[tuple[str, dict[str, Any]]] = []

    async def decide(self, channel: str, data: dict[str, Any]) -> Decision:
        self.asked.append((channel, data))
        return self.decision


KEYS = {"live_good_key_1234": Channel("demo"), "live_other_key_123": Channel("other", False)}


class Fixture:
    def __init__(self, *, hook: Hook | None = None, down: bool = False, limit: int = 3) -> None:
        self.registry, _ = make_registry()
        leases = LocalPublishLeases()
        self.claims = ChannelClaims(leases, LeaseKeeper(leases, "node-a", on_lost=lambda c: None))
        self.attempts = PublishAttempts(PublishAttemptLimits(limit=limit, window=60, cooldown=60))
        self.watch = StreamKeyWatch(self._keys, lambda c, r: None, interval=1.0)
        self.records: dict[str, bool] = {}
        self.adopted: list[str] = []
        self.down = down
        self.stopping = False

        async def lookup(key: str) -> Channel | None:
            if self.down:
                raise AdmissionUnavailable("OperationalError")
            return KEYS.get(key)

        async def adopt(channel: str) -> None:
            self.adopted.append(channel)

        self.admission = PublishAdmission(
            lookup=lookup,
            attempts=self.attempts,
            claims=self.claims,
            registry=self.registry,
            key_watch=self.watch,
            key_hash=lambda key: f"hash:{key}",
            key_hint=lambda key: key[:8],
            hook=lambda: hook,
            adopt=adopt,
            shutting_down=lambda: self.stopping,
            channel_records=self.records,
        )

    async def _keys(self) -> dict[str, str]:
        return {}

    def attempt(self, key: str, addr: str = "203.0.113.7:5000", **kw: Any) -> PublishAttempt:
        return PublishAttempt(key, addr, lambda reason: None, **kw)

    async def refused(self, attempt: PublishAttempt) -> AdmissionRefused:
        with pytest.raises(AdmissionRefused) as caught:
            await self.admission.admit(attempt)
        return caught.value


async def test_a_good_key_goes_live_with_its_lease_and_key_watched() -> None:
    f = Fixture()
    sink = await f.admission.admit(f.attempt("live_good_key_1234"))
    assert sink is not None and f.registry.hub("demo") is not None
    assert f.claims.held("demo") is not None
    assert f.watch._published == {"demo": "hash:live_good_key_1234"}
    assert f.adopted == ["demo"]  # a lease just taken, nothing live here: adopt first
    assert f.records == {}  # only there while the registry opens the publisher


async def test_each_refusal_has_its_reason(caplog: pytest.LogCaptureFixture) -> None:
    f = Fixture()
    with caplog.at_level(logging.WARNING, logger="golive.live"):
        wrong = await f.refused(f.attempt("live_nope_nope_nope"))
        assert (wrong.reason, wrong.message) == (RefusalReason.WRONG_KEY, "Invalid stream key")
        assert "unknown stream key live_nop… from 203.0.113.7:5000" in caplog.text
        codecs = await f.refused(f.attempt("live_good_key_1234", codecs=frozenset({"vp09"})))
        assert codecs.reason is RefusalReason.CODEC_UNSUPPORTED and "vp09" in codecs.message
        await f.admission.admit(f.attempt("live_good_key_1234", codecs=frozenset({"avc1"})))
        busy = await f.refused(f.attempt("live_good_key_1234", "198.51.100.1:1"))
        assert busy.reason is RefusalReason.ALREADY_LIVE
        assert busy.message == "Channel demo is already live"
    f.stopping = True
    stopping = await f.refused(f.attempt("live_other_key_123"))
    assert stopping.reason is RefusalReason.SHUTTING_DOWN


async def test_failed_keys_start_a_cool_down_before_the_key_is_looked_at() -> None:
    f = Fixture(limit=2)
    for _ in range(3):
        await f.refused(f.attempt("live_nope_nope_nope"))
    cooling = await f.refused(f.attempt("live_good_key_1234"))  # even with the right key
    assert cooling.reason is RefusalReason.COOLING_DOWN
    assert cooling.message.startswith("Too many failed publish attempts: try again in ")
    await f.admission.admit(f.attempt("live_good_key_1234", "192.0.2.9:1"))  # another host


async def test_the_hook_sees_the_protocols_details_and_may_refuse() -> None:
    hook = Hook(Decision(False, "not today"))
    f = Fixture(hook=hook)
    refused = await f.refused(f.attempt("live_good_key_1234", details={"app": "live"}))
    assert (refused.reason, refused.message) == (RefusalReason.REFUSED_BY_HOOK, "not today")
    assert hook.asked == [
        (
            "demo",
            {
                "app": "live",
                "remote_addr": "203.0.113.7:5000",
                "stream_key_hint": "live_goo",
                "resumes_stream": None,
            },
        )
    ]
    assert f.claims.held("demo") is None  # refused before the lease was taken


async def test_database_or_cluster_state_unavailable_is_try_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    f = Fixture(down=True)
    with caplog.at_level(logging.ERROR, logger="golive.live"):
        down = await f.refused(f.attempt("live_good_key_1234"))
    assert down.reason is RefusalReason.UNAVAILABLE and "Database unavailable" in down.message
    assert "the database is unavailable (OperationalError)" in caplog.text
    f.down = False

    async def unavailable(channel: str) -> bool:
        raise ClaimsUnavailable("Redis is away")

    f.claims.claim = unavailable  # type: ignore[method-assign]
    cluster = await f.refused(f.attempt("live_good_key_1234"))
    assert cluster.reason is RefusalReason.UNAVAILABLE and "Cluster state" in cluster.message


async def checked(f: Fixture, attempt: PublishAttempt) -> AdmissionRefused:
    with pytest.raises(AdmissionRefused) as caught:
        await f.admission.check(attempt)
    return caught.value


def untouched(f: Fixture, channel: str = "demo") -> bool:
    """Nothing a check may not do was done: nothing live, no lease, no key watched."""
    return (
        f.registry.hub(channel) is None
        and f.registry.publisher(channel) is None
        and f.claims.held(channel) is None
        and f.watch._published == {}
        and f.adopted == []
        and f.records == {}
    )


async def test_check_passes_what_admit_would_take_and_changes_nothing() -> None:
    hook = Hook(Decision(True))
    f = Fixture(hook=hook)
    for _ in range(3):
        await f.admission.check(f.attempt("live_good_key_1234", codecs=frozenset({"avc1"})))
    assert untouched(f)
    assert hook.asked == []  # the hook is for admit: it may have effects of its own
    await f.admission.admit(f.attempt("live_good_key_1234"))  # still free
    assert f.registry.hub("demo") is not None


async def test_check_refuses_as_admit_would_with_the_same_log_lines(
    caplog: pytest.LogCaptureFixture,
) -> None:
    f = Fixture()
    with caplog.at_level(logging.WARNING, logger="golive.live"):
        wrong = await checked(f, f.attempt("live_nope_nope_nope"))
        assert (wrong.reason, wrong.message) == (RefusalReason.WRONG_KEY, "Invalid stream key")
        assert "unknown stream key live_nop… from 203.0.113.7:5000" in caplog.text
        codecs = await checked(f, f.attempt("live_good_key_1234", codecs=frozenset({"vp09"})))
        assert codecs.reason is RefusalReason.CODEC_UNSUPPORTED and "vp09" in codecs.message
        assert untouched(f)
        await f.admission.admit(f.attempt("live_good_key_1234"))
        caplog.clear()
        busy = await checked(f, f.attempt("live_good_key_1234", "198.51.100.1:1"))
        assert (busy.reason, busy.message) == (
            RefusalReason.ALREADY_LIVE,
            "Channel demo is already live",
        )
        assert "channel demo is already live (second publisher from 198.51.100.1:1)" in (
            caplog.text
        )
    await f.admission.check(f.attempt("live_other_key_123"))  # another channel is free
    f.stopping = True
    stopping = await checked(f, f.attempt("live_other_key_123"))
    assert stopping.reason is RefusalReason.SHUTTING_DOWN
    assert f.registry.hub("other") is None


async def test_check_passes_a_channel_waiting_for_its_publisher_to_come_back() -> None:
    f = Fixture()
    sink = await f.admission.admit(f.attempt("live_good_key_1234"))
    sink.on_close("connection lost")  # RECONNECTING: the same publisher may resume it
    await f.admission.check(f.attempt("live_good_key_1234"))


async def test_check_counts_a_wrong_key_once_and_honours_the_cool_down() -> None:
    f = Fixture(limit=2)
    await checked(f, f.attempt("live_nope_nope_nope"))
    await f.admission.check(f.attempt("live_good_key_1234"))  # one failure: no cool-down
    await checked(f, f.attempt("live_nope_nope_nope"))  # the second starts it
    cooling = await checked(f, f.attempt("live_good_key_1234"))
    assert cooling.reason is RefusalReason.COOLING_DOWN
    admit_too = await f.refused(f.attempt("live_good_key_1234"))
    assert admit_too.reason is RefusalReason.COOLING_DOWN


async def test_check_reports_an_unavailable_database() -> None:
    f = Fixture(down=True)
    down = await checked(f, f.attempt("live_good_key_1234"))
    assert down.reason is RefusalReason.UNAVAILABLE


def test_every_reason_has_an_rtmp_answer() -> None:
    assert set(REFUSAL_STATUS) == set(RefusalReason)
    assert REFUSAL_STATUS[RefusalReason.WRONG_KEY] == "NetStream.Publish.BadName"
    assert REFUSAL_STATUS[RefusalReason.ALREADY_LIVE] == "NetStream.Publish.BadName"
    assert REFUSAL_STATUS[RefusalReason.UNAVAILABLE] == "NetStream.Publish.Rejected"


async def test_the_rtmp_authorizer_maps_a_refusal_to_its_status() -> None:
    seen: list[PublishAttempt] = []

    async def admit(attempt: PublishAttempt) -> Any:
        seen.append(attempt)
        raise AdmissionRefused(RefusalReason.WRONG_KEY, "Invalid stream key")

    authorize = rtmp_authorizer(admit)
    request = PublishRequest("live", "live_key", "", "203.0.113.7:5000", lambda reason: None)
    with pytest.raises(PublishRefused) as caught:
        await authorize(request)
    assert (caught.value.code, caught.value.description) == (
        "NetStream.Publish.BadName",
        "Invalid stream key",
    )
    assert seen[0].protocol == "rtmp" and seen[0].details == {"app": "live"}
    assert seen[0].stream_key == "live_key" and seen[0].codecs is None
