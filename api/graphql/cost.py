"""The cost limit: how many objects a document may ask for, counted before it runs.

Depth, alias and token limits leave room for lists inside lists: `assignments(first: 60)`
three levels down asks for 60 × 60 × 60 objects. The cost multiplies the page sizes down
the tree: a connection counts once, each of its `edges` and `nodes` as many times as its
`first` (the default page size when absent; a `$first` variable is read from the
request), a list without `first` as the largest page, every other object once. Scalars are
free, and so is introspection (`__schema`, `__type`), which the schema's size bounds.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    get_operation_ast,
    is_leaf_type,
    is_list_type,
    value_from_ast_untyped,
)
from strawberry.extensions import SchemaExtension, ValidationCache

from api.config import Settings
from api.errors import ErrorCode

PAGE_ARGUMENT = "first"


class QueryCost:
    """The cost of one operation of a validated document."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        operation: OperationDefinitionNode,
        variables: dict[str, Any],
        settings: Settings,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.default_page = settings.default_page_size
        self.max_page = settings.max_page_size
        self.defaults = {
            d.variable.name.value: d.default_value for d in operation.variable_definitions or ()
        }
        # Fragments are costed once per page size: a fragment spread many times (or
        # fragments spreading each other) costs no more time to count than to write.
        self._fragment_costs: dict[tuple[str, int | None], int] = {}

    def of(self, operation: OperationDefinitionNode) -> int:
        root = self.schema.get_root_type(operation.operation)
        return self._selections(operation.selection_set, root, None)

    def _selections(self, selection_set: SelectionSetNode, parent: Any, page: int | None) -> int:
        """The cost of one object of type `parent`; `page` is its page size when it is a
        connection (its `edges` and `nodes` come that many times)."""
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self._field(selection, parent, page)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                kind = self.schema.get_type(condition.name.value) if condition else parent
                total += self._selections(selection.selection_set, kind, page)
            elif isinstance(selection, FragmentSpreadNode):
                total += self._fragment(selection.name.value, page)
        return total

    def _fragment(self, name: str, page: int | None) -> int:
        key = (name, page)
        if key not in self._fragment_costs:
            fragment = self.fragments[name]
            kind = self.schema.get_type(fragment.type_condition.name.value)
            self._fragment_costs[key] = self._selections(fragment.selection_set, kind, page)
        return self._fragment_costs[key]

    def _field(self, node: FieldNode, parent: Any, page: int | None) -> int:
        name = node.name.value
        if name.startswith("__") or node.selection_set is None:
            return 0
        definition = parent.fields[name]
        kind = get_named_type(definition.type)
        if is_leaf_type(kind):
            return 0
        inner_page = None
        if PAGE_ARGUMENT in definition.args:  # a connection: one object, a page inside
            count, inner_page = 1, self._page_size(node)
        elif is_list_type(get_nullable_type(definition.type)):
            count = self.max_page if page is None else page
        else:
            count = 1
        return count * (1 + self._selections(node.selection_set, kind, inner_page))

    def _page_size(self, node: FieldNode) -> int:
        value = next((a.value for a in node.arguments or () if a.name.value == PAGE_ARGUMENT), None)
        first: Any = None
        if isinstance(value, IntValueNode):
            first = int(value.value)
        elif isinstance(value, VariableNode):
            name = value.name.value
            if name in self.variables:
                first = self.variables[name]
            elif self.defaults.get(name) is not None:
                first = value_from_ast_untyped(self.defaults[name])
        if not isinstance(first, int) or isinstance(first, bool):
            return self.default_page
        # A page larger than the largest is refused when the field runs.
        return min(max(first, 0), self.max_page)


def over_cost_error(cost: int, max_cost: int) -> GraphQLError:
    return GraphQLError(
        f"This query could return about {cost:,} objects; at most {max_cost:,} are allowed. "
        "Ask for smaller pages (`first`) or fewer nested lists.",
        extensions={"code": ErrorCode.BAD_USER_INPUT.value, "cost": cost, "maxCost": max_cost},
    )


class CostLimit(SchemaExtension):
    """Refuses a validated document whose cost passes `max_query_cost`, before it runs.

    It runs after validation (whose results are cached per document) because the cost
    depends on the variables, which change from one request to the next."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and not context.pre_execution_errors:
            operation = get_operation_ast(document, context.operation_name)
            if operation is not None:
                fragments = {
                    d.name.value: d
                    for d in document.definitions
                    if isinstance(d, FragmentDefinitionNode)
                }
                cost = QueryCost(
                    context.schema._schema,
                    fragments,
                    operation,
                    context.variables or {},
                    self.settings,
                ).of(operation)
                if cost > self.settings.max_query_cost:
                    # A new list: the validation cache shares the one it returned.
                    context.pre_execution_errors = [
                        over_cost_error(cost, self.settings.max_query_cost)
                    ]
        yield


def expanded_fields(document: DocumentNode) -> int:
    """How many fields the document's largest operation has once every fragment spread is
    written out: fragments spreading each other twice over double at each step."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    sizes: dict[str, int] = {}

    def size(selection_set: SelectionSetNode | None) -> int:
        total = 0
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                total += 1 + size(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                total += size(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name not in sizes and name in fragments:
                    sizes[name] = 0  # a cycle counts nothing (validation refuses it)
                    sizes[name] = size(fragments[name].selection_set)
                total += sizes.get(name, 0)
        return total

    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    return max((size(o.selection_set) for o in operations), default=0)


class ExpansionLimit(SchemaExtension):
    """Refuses, before validation, a document whose fragments expand it past ten fields per
    allowed token: validating it (the depth limit above all) would take seconds or hours."""

    def __init__(self, settings: Settings) -> None:
        self.limit = 10 * settings.max_query_tokens

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and expanded_fields(document) > self.limit:
            context.pre_execution_errors = [
                GraphQLError(
                    f"The document's fragments expand it to more than {self.limit:,} fields.",
                    extensions={"code": ErrorCode.BAD_USER_INPUT.value},
                )
            ]
        yield


class ValidationCacheUnlessRefused(ValidationCache):
    def on_validate(self) -> Iterator[None]:
        if self.execution_context.pre_execution_errors:
            yield
        else:
            yield from super().on_validate()
