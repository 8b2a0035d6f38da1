"""The Dockerfile and compose file agree with the code (they are not built in the suite)."""

from __future__ import annotations

import re
from pathlib import Path

from golive.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_dockerfile_is_multi_stage_non_root_and_matches_the_defaults() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, re.MULTILINE)
    assert len(stages) >= 3 and any(image.startswith("node:") for image, _ in stages)
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    exposed = {
        int(p) for line in re.findall(r"^EXPOSE\s+(.+)$", text, re.MULTILINE) for p in line.split()
    }
    defaults = Settings.model_fields
    for field in ("rtmp_port", "rtmps_port", "http_port"):
        assert defaults[field].default in exposed, field
    assert "/readyz" in text and 'ENTRYPOINT ["golive"]' in text
    for line in re.findall(r"^COPY\s+(?!--from)(\S+)", text, re.MULTILINE):
        assert (ROOT / line).exists(), line  # every copied path exists in the repository


def test_compose_waits_longer_than_the_shutdown_timeout() -> None:
    text = (ROOT / "compose.yaml").read_text()
    grace = re.search(r"stop_grace_period:\s*(\d+)s", text)
    assert grace is not None
    assert int(grace.group(1)) > Settings.model_fields["shutdown_timeout"].default
    assert "build: ." in text
