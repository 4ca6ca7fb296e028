"""The UI's GraphQL operations are valid against the API's contract, and the UI reaches the
API only through them."""

import ast
from pathlib import Path

import pytest
from graphql import build_schema, validate

from ui.graphql.operations import all_documents

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = build_schema((ROOT / "schema.graphql").read_text())


@pytest.mark.parametrize("name", sorted(all_documents()))
def test_operation_is_valid_against_schema_graphql(name):
    errors = validate(SCHEMA, all_documents()[name])
    assert not errors, [e.message for e in errors]


def test_every_operation_is_used_by_the_ui():
    sources = "\n".join(p.read_text() for p in (ROOT / "ui").rglob("*.py"))
    unused = [name for name in all_documents() if f'"{name}"' not in sources]
    assert not unused, f"operations no page sends: {unused}"


def test_the_ui_never_imports_the_api_package():
    offenders = []
    for path in (ROOT / "ui").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [
                f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] == "api"
            ]
    assert not offenders
