"""Input that cannot be stored is refused once, for every input, before anything runs.

Text: a NUL character (PostgreSQL text cannot hold one) or an unpaired surrogate (JSON can
escape one, `"\\ud800"`, but UTF-8 cannot encode it, so neither a database nor a response
can carry it) anywhere in a request's strings — arguments, variables, inside lists and
input objects, over HTTP or the websocket — is BAD_USER_INPUT naming the field, rather than
a crash in the database driver or, worse, a stored row that breaks every later list.

Times: a DateTime whose offset carries it past year 9999 (or before year 1) in UTC, where
every time is stored, is refused as it is read.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from graphql import (
    ArgumentNode,
    DocumentNode,
    GraphQLError,
    ObjectFieldNode,
    StringValueNode,
    VariableDefinitionNode,
    VariableNode,
    Visitor,
    visit,
)
from strawberry.extensions import SchemaExtension
from strawberry.schema.types.base_scalars import DateTimeDefinition

from api.errors import PracticumError

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable(text: str) -> str | None:
    """What in `text` cannot be stored, in words, or None when all of it can."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "a NUL character"
    return "an unpaired surrogate (text that is not valid Unicode)"


def _label(field: str) -> str:
    """`personalityTraits` → "Personality traits", as the services name fields in messages."""
    return re.sub(r"(?<!^)(?=[A-Z])", " ", field).lower().capitalize()


class _Inputs(Visitor):
    """Where a document's string literals and variables go: the argument or input field."""

    def __init__(self) -> None:
        super().__init__()
        self.literals: list[tuple[str, str]] = []
        self.fields_of_variables: dict[str, str] = {}

    def enter_string_value(self, node: StringValueNode, _key, parent, _path, ancestors) -> None:
        self.literals.append((_field_of([*ancestors, parent]), node.value))

    def enter_variable(self, node: VariableNode, _key, parent, _path, ancestors) -> None:
        if not isinstance(parent, VariableDefinitionNode):
            self.fields_of_variables.setdefault(node.name.value, _field_of([*ancestors, parent]))


def _field_of(ancestors: list[Any]) -> str:
    for node in reversed(ancestors):
        if isinstance(node, ArgumentNode | ObjectFieldNode):
            return node.name.value
        if isinstance(node, VariableDefinitionNode):
            return node.variable.name.value
    return "query"


def _strings(value: Any) -> Iterator[tuple[str | None, str]]:
    """Every string in a JSON value, keys included, with the input field it belongs to (the
    innermost object key above it; None at the top). Iterative: variables may nest deeply."""
    pending: list[tuple[Any, str | None]] = [(value, None)]
    while pending:
        value, field = pending.pop()
        if isinstance(value, str):
            yield field, value
        elif isinstance(value, dict):
            for key, item in value.items():
                pending.append((key, field))
                pending.append((item, key if isinstance(key, str) else field))
        elif isinstance(value, list):
            pending.extend((item, field) for item in value)


def problems(
    document: DocumentNode, variables: dict[str, Any] | None, source: str | None = None
) -> dict[str, str]:
    """Field → message for each field whose text cannot be stored."""
    in_variables = [
        (name, field, text)
        for name, value in (variables or {}).items()
        for field, text in _strings(value)
        if unstorable(text)
    ]
    # The lexer refuses unpaired surrogates, so a literal can only hold a NUL, as it is or
    # escaped: without either in the source, only the variables (usually none) need a look.
    literal_may_hold_one = source is None or "\x00" in source or "\\u" in source
    if not in_variables and not literal_may_hold_one:
        return {}
    inputs = _Inputs()
    visit(document, inputs)
    candidates = list(inputs.literals)
    for name, field, text in in_variables:
        candidates.append((field or inputs.fields_of_variables.get(name, name), text))
    found: dict[str, str] = {}
    for field, text in candidates:
        what = unstorable(text)
        if what and field not in found:
            found[field] = f"{_label(field)} contains {what}; remove it and try again."
    return found


class StorableText(SchemaExtension):
    """Refuses a request holding text that cannot be stored, before it runs.

    Listed after ValidationCache: Strawberry reads the validation errors before the hooks'
    ends run, so these errors replace that cache's from the start of the hook (validation
    errors could also quote the text back)."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is not None:
            found = problems(context.graphql_document, context.variables, context.query)
            if found:
                error = PracticumError.invalid_fields(found)
                context.pre_execution_errors = [GraphQLError(error.message, original_error=error)]
        yield


def _storable_datetime(value: object) -> datetime:
    parsed = DateTimeDefinition.parse_value(value)
    if parsed.tzinfo is not None:
        try:
            parsed.astimezone(UTC)
        except OverflowError:
            raise GraphQLError(
                f"{value} is out of range: times must fall within the years 1 to 9999 in UTC."
            ) from None
    return parsed


STORABLE_DATETIME = dataclasses.replace(DateTimeDefinition, parse_value=_storable_datetime)
