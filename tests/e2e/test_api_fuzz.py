"""Schemathesis against the API's own OpenAPI document: no 5xx, nothing outside the schema.

The server runs on its own event loop in a thread (schemathesis' calls are synchronous).
Every operation gets a bounded number of generated requests, valid ones and invalid ones,
with an administrator's token; operations that delete run last, each case with a freshly
minted administrator, so deleting the caller cannot starve the rest of the run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.api_tokens import user_token
from tests.support.threaded_server import ThreadedServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
POSITIVE_EXAMPLES = 12
NEGATIVE_EXAMPLES = 4
_ORDER = {"GET": 0, "POST": 1, "PATCH": 2, "DELETE": 3}


def test_api_conforms_to_its_openapi_document(tmp_path: Path) -> None:
    with ThreadedServer(tmp_path / "data") as srv:
        admin = srv.call(user_token(srv.server, "fuzz-admin", ["admin"], admin=True))
        owner = srv.call(user_token(srv.server, "owner", ["write"]))
        base = srv.base_url
        httpx.post(
            f"{base}/api/v1/channels",
            json={"name": "owned", "title": "x"},
            headers={"authorization": f"Bearer {owner}"},
        ).raise_for_status()
        document = httpx.get(f"{base}/api/v1/openapi.json").json()
        schema = schemathesis.openapi.from_dict(document)
        operations = sorted(
            (result.ok() for result in schema.get_all_operations()),
            key=lambda op: (_ORDER.get(op.method.upper(), 9), op.path),
        )
        assert len(operations) >= 15
        counter = iter(range(1_000_000))
        calls: list[int] = []

        def fuzz(operation: Any, mode: GenerationMode, examples: int) -> None:
            deletes = operation.method.upper() == "DELETE"

            @settings(
                max_examples=examples,
                deadline=None,
                derandomize=True,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case: schemathesis.Case) -> None:
                token = admin
                if deletes:
                    name = f"tmp-{next(counter)}"
                    token = srv.call(user_token(srv.server, name, ["admin"], admin=True))
                case.call_and_validate(
                    base_url=f"{base}/api/v1",
                    headers={"Authorization": f"Bearer {token}"},
                    checks=CHECKS,
                    timeout=10,
                )
                calls.append(1)

            run()

        for operation in operations:
            fuzz(operation, GenerationMode.POSITIVE, POSITIVE_EXAMPLES)
            fuzz(operation, GenerationMode.NEGATIVE, NEGATIVE_EXAMPLES)
        assert len(calls) >= 100
        # The server is still healthy afterwards.
        assert httpx.get(f"{base}/readyz").status_code == 200
