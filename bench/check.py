"""Regression check: a fresh run of the headline benchmarks against the last recorded figures.

Runs (each with golive's defaults, as in docs/benchmarks.md):

- ``bench/pipeline_cost.py`` (7 x 30 s of media): CPU per media second of the in-process
  ingest path (no other process involved; runs of 60 s of media vary more, up to 20%);
- ``bench/ingest.py`` at K=30 beside nginx-rtmp: golive's CPU per stream-second, compared as
  its ratio to nginx-rtmp's in the same run (so a slower or faster machine does not count as
  a regression);
- ``bench/latency.py`` (browser rows only): end-to-end p50 of the watch page and of hls.js with
  its default settings.

It exits 1 when CPU per stream grew by more than 10% or a latency p50 by more than 20% over
``bench/recorded.json``, and prints every figure beside its recorded value. ``--record``
writes the fresh figures as the new record (do that with the commit that changes them, and
say so in docs/benchmarks.md). Takes about 6 minutes; not part of CI (`make bench-check`).

Usage: .venv/bin/python bench/check.py [--record] [--skip latency,ingest]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BENCH, RESULTS, log

RECORDED = BENCH / "recorded.json"
CPU_TOLERANCE = 0.10
LATENCY_TOLERANCE = 0.20


def run(script: str, *args: str, timeout: float) -> str:
    cmd = [sys.executable, str(BENCH / script), *args]
    log("running " + " ".join(cmd[1:]))
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        sys.stderr.write(res.stderr[-4000:])
        raise SystemExit(f"{script} failed with exit code {res.returncode}")
    return res.stdout


def pipeline_figure() -> dict[str, float]:
    out = run("pipeline_cost.py", "--seconds", "30", "--repeat", "7", timeout=900)
    m = re.search(r"\| \+package \| ([\d.]+) ", out)
    if m is None:
        raise SystemExit("pipeline_cost.py printed no +package row")
    return {"pipeline_cpu_ms_per_media_s": float(m[1])}


def ingest_figures() -> dict[str, float]:
    run("ingest.py", "--levels", "30", "--hold", "20", "--profile-at", "0", "--no-doc", timeout=900)
    rows = json.loads((RESULTS / "ingest.json").read_text())
    per = {
        r["server"]: 1000 * r["cpu_s"] / (r["hold_s"] * r["live"]) for r in rows if r["live"] > 0
    }
    if "golive" not in per or "nginx-rtmp" not in per:
        raise SystemExit(f"ingest.py measured {sorted(per)}, not golive and nginx-rtmp")
    return {
        "ingest_k30_golive_cpu_ms_per_stream_s": per["golive"],
        "ingest_k30_nginx_cpu_ms_per_stream_s": per["nginx-rtmp"],
        "ingest_k30_cpu_ratio_to_nginx": per["golive"] / per["nginx-rtmp"],
    }


def latency_figures() -> dict[str, float]:
    run("latency.py", "--seconds", "30", "--no-availability", "--no-nginx", "--no-doc", timeout=900)
    summary = json.loads((RESULTS / "latency.json").read_text()).get("summary", {})
    out = {}
    for name in ("watch_page", "hlsjs_default"):
        if name in summary:
            out[f"latency_{name}_e2e_p50_s"] = summary[name]["e2e_p50_s"]
    return out


# Which figures are compared, and how much worse a fresh one may be (None: shown only; the
# absolute CPU figures depend on the machine, their ratio does not).
LIMITS: dict[str, float | None] = {
    "pipeline_cpu_ms_per_media_s": CPU_TOLERANCE,
    "ingest_k30_golive_cpu_ms_per_stream_s": None,
    "ingest_k30_nginx_cpu_ms_per_stream_s": None,
    "ingest_k30_cpu_ratio_to_nginx": CPU_TOLERANCE,
    "latency_watch_page_e2e_p50_s": LATENCY_TOLERANCE,
    "latency_hlsjs_default_e2e_p50_s": LATENCY_TOLERANCE,
}


def compare(fresh: dict[str, float], recorded: dict[str, float]) -> list[str]:
    regressions = []
    print(f"{'figure':<42} {'recorded':>10} {'fresh':>10} {'change':>8}  limit")
    for name, value in fresh.items():
        before = recorded.get(name)
        limit = LIMITS.get(name)
        change = (value / before - 1) if before else float("nan")
        flag = ""
        if limit is not None and before and change > limit:
            flag = "  REGRESSION"
            regressions.append(name)
        limit_text = f"+{limit:.0%}" if limit is not None else "-"
        before_text = f"{before:.3f}" if before is not None else "n/a"
        print(f"{name:<42} {before_text:>10} {value:>10.3f} {change:>+8.1%}  {limit_text}{flag}")
    return regressions


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--record", action="store_true", help="store the fresh figures")
    parser.add_argument("--skip", default="", help="comma-separated: pipeline, ingest, latency")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    fresh: dict[str, float] = {}
    if "pipeline" not in skip:
        fresh |= pipeline_figure()
    if "ingest" not in skip:
        fresh |= ingest_figures()
    if "latency" not in skip:
        fresh |= latency_figures()
    recorded = json.loads(RECORDED.read_text()) if RECORDED.exists() else {}
    if args.record:
        RECORDED.write_text(json.dumps(recorded | fresh, indent=2, sort_keys=True) + "\n")
        log(f"recorded {len(fresh)} figures in {RECORDED}")
        return 0
    if not recorded:
        raise SystemExit(f"{RECORDED} is missing: run with --record first")
    regressions = compare(fresh, recorded)
    if regressions:
        print(f"regression over the limit: {', '.join(regressions)}")
        return 1
    print("no regression over the limits")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
