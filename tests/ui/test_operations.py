"""The UI's GraphQL operations are valid against the API's contract, and the UI reaches the
API only through them."""

import ast
from pathlib import Path

import pytest
from graphql import (
    FragmentDefinitionNode,
    OperationDefinitionNode,
    build_schema,
    get_named_type,
    get_operation_ast,
    type_from_ast,
    validate,
)

from api.config import Settings
from api.graphql.cost import QueryCost
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


def largest_pages(operation: OperationDefinitionNode, max_page: int) -> dict[str, int]:
    """Every Int variable at the largest page size: the most the UI could ask for."""
    return {
        d.variable.name.value: max_page
        for d in operation.variable_definitions or ()
        if get_named_type(type_from_ast(SCHEMA, d.type)).name == "Int"
    }


@pytest.mark.parametrize("name", sorted(all_documents()))
def test_operation_stays_under_the_cost_limit(name):
    settings = Settings()
    document = all_documents()[name]
    operation = get_operation_ast(document, name)
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    variables = largest_pages(operation, settings.max_page_size)
    cost = QueryCost(SCHEMA, fragments, operation, variables, settings).of(operation)
    assert cost <= settings.max_query_cost, f"{name} costs {cost:,}"
