"""docs/api.md and the /api/v1/docs page, both rendered from the OpenAPI document.

A test renders the Markdown again and compares it with docs/api.md, so the document
cannot drift from the code.
"""

from __future__ import annotations

import html
from typing import Any

from golive.http.api.errors import ERROR_CODES

_METHODS = ("get", "post", "put", "patch", "delete")


def _operations(openapi: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    prefix = openapi.get("servers", [{}])[0].get("url", "")
    found = []
    for path, item in openapi["paths"].items():
        for method in _METHODS:
            if method in item:
                found.append((method.upper(), prefix + path, item[method]))
    return found


def _schema_name(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if schema.get("type") == "array" and "items" in schema:
        return f"list of {_schema_name(schema['items'])}"
    if "anyOf" in schema:
        return " or ".join(_schema_name(s) for s in schema["anyOf"])
    return str(schema.get("type", "object"))


def _body(operation: dict[str, Any]) -> str | None:
    content = operation.get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema")
    return _schema_name(schema) if schema else None


def _success(operation: dict[str, Any]) -> str:
    for status, response in operation.get("responses", {}).items():
        if status.startswith("2"):
            schema = response.get("content", {}).get("application/json", {}).get("schema")
            return f"{status} {_schema_name(schema)}" if schema else f"{status} (no body)"
    return ""


def _parameters(operation: dict[str, Any]) -> str:
    parts = []
    for p in operation.get("parameters", []):
        where = p.get("in", "")
        parts.append(f"`{p['name']}` ({where}{', required' if p.get('required') else ''})")
    return ", ".join(parts)


def _errors(operation: dict[str, Any]) -> str:
    return ", ".join(s for s in operation.get("responses", {}) if not s.startswith("2"))


def render_markdown(openapi: dict[str, Any]) -> str:
    """The whole of docs/api.md."""
    lines = [
        "# golive REST API",
        "",
        "<!-- Generated from the OpenAPI document by golive.http.api.reference; do not edit. -->",
        "<!-- Regenerate: python -m golive.http.api.reference > docs/api.md -->",
        "",
        f"Version {openapi['info']['version']}. The live OpenAPI document is served at "
        "`/api/v1/openapi.json`, a browsable page at `/api/v1/docs`.",
        "",
        openapi["info"].get("description", "").strip(),
        "",
        "Bootstrap the first administrator and token on the server:",
        "",
        "```sh",
        "golive user add alice --admin",
        "golive token create alice --scope admin",
        "```",
        "",
        "## Operations",
        "",
        "| method | path | scope | body | success | errors | summary |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for method, path, op in _operations(openapi):
        summary = (op.get("description") or op.get("summary") or "").splitlines()[0]
        lines.append(
            f"| {method} | `{path}` | {op.get('x-required-scope', '')} | {_body(op) or ''} "
            f"| {_success(op)} | {_errors(op)} | {summary} |"
        )
    lines += ["", "## Parameters", ""]
    for method, path, op in _operations(openapi):
        params = _parameters(op)
        if params:
            lines.append(f"- {method} `{path}`: {params}")
    lines += [
        "",
        "## Errors",
        "",
        'Every error is `{"error": {"code": "...", "message": "..."}}`; the code is stable, the',
        "message is for people.",
        "",
        "| code | status | meaning |",
        "| --- | --- | --- |",
    ]
    for code, (status, meaning) in ERROR_CODES.items():
        lines.append(f"| `{code}` | {status} | {meaning} |")
    lines += ["", "## Schemas", ""]
    for name, schema in openapi.get("components", {}).get("schemas", {}).items():
        fields = []
        required = set(schema.get("required", []))
        for field, spec in schema.get("properties", {}).items():
            mark = "" if field in required else "?"
            fields.append(f"`{field}{mark}`: {_schema_name(spec)}")
        lines.append(f"- **{name}**: {', '.join(fields)}")
    lines.append("")
    return "\n".join(lines)


def render_html(openapi: dict[str, Any]) -> str:
    """A self-contained documentation page (no scripts)."""
    rows = []
    for method, path, op in _operations(openapi):
        summary = op.get("description") or op.get("summary") or ""
        rows.append(
            "<tr>"
            f"<td><code>{method}</code></td><td><code>{html.escape(path)}</code></td>"
            f"<td>{html.escape(str(op.get('x-required-scope', '')))}</td>"
            f"<td>{html.escape(_body(op) or '')}</td>"
            f"<td>{html.escape(_success(op))}</td>"
            f"<td>{html.escape(_parameters(op)).replace('`', '')}</td>"
            f"<td>{html.escape(summary)}</td></tr>"
        )
    codes = "".join(
        f"<tr><td><code>{c}</code></td><td>{s}</td><td>{html.escape(m)}</td></tr>"
        for c, (s, m) in ERROR_CODES.items()
    )
    description = html.escape(openapi["info"].get("description", ""))
    return (
        "<!doctype html><html><head><meta charset=utf-8><title>golive API</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{border:1px solid #ccc;"
        "padding:4px 8px;vertical-align:top}table{border-collapse:collapse}</style></head>"
        f"<body><h1>golive API {html.escape(openapi['info']['version'])}</h1>"
        f"<pre>{description}</pre>"
        '<p>OpenAPI document: <a href="openapi.json">openapi.json</a></p>'
        "<h2>Operations</h2><table><tr><th>method</th><th>path</th><th>scope</th>"
        "<th>body</th><th>success</th><th>parameters</th><th>summary</th></tr>"
        + "".join(rows)
        + "</table><h2>Errors</h2><table><tr><th>code</th><th>status</th><th>meaning</th></tr>"
        + codes
        + "</table></body></html>"
    )


def _main() -> None:
    from golive.http.api.app import build_openapi, create_api

    # The document depends only on the routes, not on the services behind them.
    print(render_markdown(build_openapi(create_api(None))), end="")  # type: ignore[arg-type]


if __name__ == "__main__":
    _main()
