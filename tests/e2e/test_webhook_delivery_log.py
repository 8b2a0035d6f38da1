"""The webhook delivery log through the API: owners see only their channel's events, by
channel id, without the receiver URL or addresses; administrators see everything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.api_tokens import bearer, user_token
from tests.support.server import http_client, running_server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

HOOK = "https://hooks.example/golive?token=s3cret-token"
ADDRESS = "203.0.113.7"


async def test_owners_see_their_channels_events_without_url_or_addresses(
    tmp_path: Path,
) -> None:
    """Regression: owners saw the operator's webhook URL and publishers' addresses, and a
    channel created again under a deleted channel's name inherited its history."""
    async with running_server(tmp_path / "data") as server, http_client(server) as client:
        assert server.deliveries is not None
        alice = await user_token(server, "alice", ["read", "write"])
        bob = await user_token(server, "bob", ["read", "write"])
        admin = await user_token(server, "root", ["admin"], admin=True)
        url = "/api/v1/webhooks/deliveries"
        r = await client.post("/api/v1/channels", json={"name": "reborn"}, headers=bearer(alice))
        assert r.status_code == 201, r.text
        payload = {
            "channel": "reborn",
            "data": {"remote_addr": f"{ADDRESS}:50000", "stream_key_hint": "abcd"},
            "type": "publish.requested",
        }
        row = await server.deliveries.record(
            event_id="evt_1",
            event="publish.requested",
            channel="reborn",
            url=HOOK,
            payload=json.dumps(payload),
        )
        await server.deliveries.attempted(
            row.id,
            status="failed",
            attempts=1,
            response_status=None,
            error=f"ConnectError: {HOOK} unreachable",
            next_attempt_at=None,
        )
        r = await client.get(url, headers=bearer(alice))
        [seen] = r.json()
        assert seen["event_id"] == "evt_1" and seen["url"] is None
        assert seen["error"] == "ConnectError"  # its text may hold the URL in any form
        assert json.loads(seen["payload"])["data"] == {"stream_key_hint": "abcd"}
        assert "s3cret" not in r.text and "hooks.example" not in r.text and ADDRESS not in r.text
        assert (await client.get(url, headers=bearer(bob))).json() == []
        r = await client.get(url, headers=bearer(admin))
        [everything] = r.json()
        assert everything["url"] == HOOK and ADDRESS in everything["payload"]

        # Deleted and created again, by someone else: none of the old history comes along
        # (SQLite may even hand the new channel the old id).
        assert (await client.delete("/api/v1/channels/reborn", headers=bearer(alice))).is_success
        r = await client.post("/api/v1/channels", json={"name": "reborn"}, headers=bearer(bob))
        assert r.status_code == 201, r.text
        assert (await client.get(url, headers=bearer(bob))).json() == []
        assert (await client.get(f"{url}?channel=reborn", headers=bearer(bob))).json() == []
        assert (await client.get(url, headers=bearer(alice))).json() == []
        assert len((await client.get(url, headers=bearer(admin))).json()) == 1
        # New events are the new owner's.
        await server.deliveries.record(
            event_id="evt_2", event="stream.started", channel="reborn", url=HOOK, payload="{}"
        )
        r = await client.get(f"{url}?channel=reborn", headers=bearer(bob))
        assert [d["event_id"] for d in r.json()] == ["evt_2"]
