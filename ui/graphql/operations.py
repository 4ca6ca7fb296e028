"""The GraphQL operations the UI sends, read from the `.graphql` files beside this module.

Each file holds named operations (and the fragments they use); `document("Login")` returns
one operation with just the fragments it needs, parsed once. A test validates every
operation against `schema.graphql`.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    OperationDefinitionNode,
    Visitor,
    parse,
    visit,
)

OPERATIONS_DIR = Path(__file__).parent / "operations"


class _Spreads(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def enter_fragment_spread(self, node: FragmentSpreadNode, *_args) -> None:
        self.names.add(node.name.value)


def _spread_names(node) -> set[str]:
    spreads = _Spreads()
    visit(node, spreads)
    return spreads.names


@cache
def all_documents() -> dict[str, DocumentNode]:
    """Every operation by name, each with the fragments it uses (transitively)."""
    documents: dict[str, DocumentNode] = {}
    for path in sorted(OPERATIONS_DIR.glob("*.graphql")):
        parsed = parse(path.read_text())
        fragments = {
            d.name.value: d for d in parsed.definitions if isinstance(d, FragmentDefinitionNode)
        }
        for definition in parsed.definitions:
            if not isinstance(definition, OperationDefinitionNode):
                continue
            name = definition.name.value if definition.name else ""
            if not name or name in documents:
                raise ValueError(f"{path.name}: every operation needs a unique name ({name!r})")
            needed: dict[str, FragmentDefinitionNode] = {}
            pending = _spread_names(definition)
            while pending:
                fragment = fragments[pending.pop()]
                needed[fragment.name.value] = fragment
                pending |= _spread_names(fragment) - needed.keys()
            documents[name] = DocumentNode(definitions=(definition, *needed.values()))
    return documents


def document(name: str) -> DocumentNode:
    return all_documents()[name]
