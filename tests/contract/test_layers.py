"""The layer contract holds for src/golive, and docs/architecture.md shows the real imports."""

from __future__ import annotations

import pytest

from tests.contract import layers
from tests.contract.layers import ImportGraph, contract_violations, import_graph


@pytest.fixture(scope="module")
def graph() -> ImportGraph:
    return import_graph()


def test_imports_keep_the_layer_contract(graph: ImportGraph) -> None:
    assert contract_violations(graph) == []


def test_architecture_doc_holds_the_generated_table(graph: ImportGraph) -> None:
    text = layers.ARCHITECTURE_DOC.read_text(encoding="utf-8")
    stale = "docs/architecture.md is out of date: run `make docs-layers`"
    assert layers.generated_section(
        text, layers.TABLE_BEGIN, layers.TABLE_END
    ) == layers.render_table(graph), stale
    assert (
        layers.generated_section(text, layers.EXCEPTIONS_BEGIN, layers.EXCEPTIONS_END)
        == layers.render_exceptions()
    ), stale
    assert layers.with_generated_sections(text, graph) == text, stale


def test_graph_sees_imports_of_every_kind(graph: ImportGraph) -> None:
    # A plain `from x import y`, a TYPE_CHECKING import and `from package import module`.
    assert "db/chat_store.py" in graph.edges["db/"]["chat/"]
    assert "http/app.py" in graph.edges["http/"]["metrics/"]
    assert "http/api/app.py" in graph.edges["http/api/"]["__init__.py"]
    assert graph.imports("media/") == set()
    assert graph.imports("store/") == set()


@pytest.mark.parametrize(
    ("unit", "module"),
    [
        ("media/", "golive.media.frame"),
        ("ingest/", "golive.ingest.rtmp.session"),
        ("http/", "golive.http.live_media"),
        ("http/api/", "golive.http.api.auth"),
        ("http/web/", "golive.http.web"),
        ("config/", "golive.config"),
        ("config/", "golive.config.check"),
        ("app/", "golive.app.live_streams"),
        ("__init__.py", "golive"),
    ],
)
def test_unit_of(unit: str, module: str) -> None:
    assert layers.unit_of(module) == unit


def _with(graph: ImportGraph, source: str, target: str) -> ImportGraph:
    edges = {unit: {t: set(files) for t, files in e.items()} for unit, e in graph.edges.items()}
    edges.setdefault(source, {}).setdefault(target, set()).add(f"{source}new.py")
    return ImportGraph(edges=edges, units=graph.units)


@pytest.mark.parametrize(
    ("source", "target", "rule"),
    [
        ("live/", "ingest/", "points back up the data path"),
        ("store/", "packager/", "imports nothing of golive"),
        ("transcode/", "packager/", "points back up the data path"),  # siblings
        ("packager/", "transcode/", "points back up the data path"),
        ("http/", "ingest/", "points back up the data path"),
        ("ingest/", "db/", "a data-path unit imports only media/"),
        ("packager/", "config/", "a data-path unit imports only media/"),
        ("media/", "live/", "imports nothing of golive"),
        ("metrics/", "app/", "import the root"),
    ],
)
def test_contract_catches(graph: ImportGraph, source: str, target: str, rule: str) -> None:
    problems = contract_violations(_with(graph, source, target))
    assert len(problems) == 1, problems
    assert rule in problems[0]
    assert f"{source} imports {target} ({source}new.py" in problems[0]


def test_contract_allows_imports_down_the_path(graph: ImportGraph) -> None:
    assert contract_violations(_with(graph, "ingest/", "live/")) == []
    assert contract_violations(_with(graph, "live/", "record/")) == []
    assert contract_violations(_with(graph, "http/web/", "metrics/")) == []  # serving edge


def test_unused_exception_and_unknown_unit_are_reported(graph: ImportGraph) -> None:
    edges = {unit: dict(e) for unit, e in graph.edges.items()}
    del edges["packager/"]["live/"]
    problems = contract_violations(ImportGraph(edges=edges, units=graph.units | {"vod/"}))
    assert any("vod/ is not in the contract" in p for p in problems)
    assert any("packager/ -> live/ is no longer used" in p for p in problems)
