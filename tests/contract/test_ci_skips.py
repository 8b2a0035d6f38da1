"""Under CI=true a skip is a failure; every run prints how many tests skipped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SAMPLE = """
import pytest

def test_passes():
    pass

def test_needs_a_browser():
    pytest.skip("chromium is not installed")

@pytest.mark.skipif(True, reason="ffmpeg is missing")
def test_needs_ffmpeg():
    pass

@pytest.fixture
def browser():
    pytest.skip("no browser for the fixture")

def test_uses_fixture(browser):
    pass

@pytest.mark.xfail(reason="known bug", strict=True)
def test_expected_failure():
    assert False
"""

MODULE_SKIP = """
import pytest

pytest.importorskip("a_module_that_is_not_installed_anywhere")

def test_never_collected():
    pass
"""


def run_pytest(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    """Run pytest on a copy of our conftest and two sample files, as `make test` would."""
    (tmp_path / "conftest.py").write_text((ROOT / "tests" / "conftest.py").read_text())
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    (tmp_path / "test_module_skip.py").write_text(MODULE_SKIP)
    env = {k: v for k, v in os.environ.items() if k not in {"CI", "PYTEST_ADDOPTS"}}
    # Only our conftest matters here; loading every installed plugin costs seconds per run.
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-rA",
            "--continue-on-collection-errors",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_without_ci_skips_pass_and_are_counted(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, ci=None)
    assert result.returncode == 0, result.stdout
    assert "1 passed, 4 skipped, 1 xfailed" in result.stdout
    assert "skips: 4 (CI unset: skips allowed)" in result.stdout


@pytest.mark.parametrize("value", ["true", "1"])
def test_under_ci_every_skip_fails(tmp_path: Path, value: str) -> None:
    result = run_pytest(tmp_path, ci=value)
    assert result.returncode == 1, result.stdout
    out = result.stdout
    # A skip in the test body fails it; one in setup (skipif, a fixture) or at import is an
    # error. The expected failure stays what it is.
    assert "1 failed, 1 passed, 1 xfailed, 3 errors" in out
    for name in ("test_needs_a_browser", "test_needs_ffmpeg", "test_uses_fixture"):
        assert f"FAILED test_sample.py::{name}" in out or f"ERROR test_sample.py::{name}" in out
    assert "chromium is not installed" in out
    assert "ffmpeg is missing" in out
    assert "a_module_that_is_not_installed_anywhere" in out
    assert "skips: 0 (CI=true: skips fail; 4 skip(s) turned into failures)" in out


def test_ci_false_is_not_ci(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, ci="false")
    assert result.returncode == 0, result.stdout
    assert "skips: 4 (CI unset: skips allowed)" in result.stdout
