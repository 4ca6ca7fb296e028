"""Introspection for signed-in users only, when an admin turns anonymous introspection off
(PRACTICUM_ANONYMOUS_INTROSPECTION=false): the schema is no map for strangers."""

from __future__ import annotations

from collections.abc import Iterator

from graphql import BREAK, DocumentNode, FieldNode, GraphQLError, Visitor, visit
from strawberry.extensions import SchemaExtension

from api.errors import ErrorCode, PracticumError

INTROSPECTION_FIELDS = {"__schema", "__type"}


class _FindsIntrospection(Visitor):
    found = False

    def enter_field(self, node: FieldNode, *_args):
        if node.name.value in INTROSPECTION_FIELDS:
            self.found = True
            return BREAK
        return None


def asks_for_the_schema(document: DocumentNode) -> bool:
    finder = _FindsIntrospection()
    visit(document, finder)
    return finder.found


def _anonymous(context) -> bool:
    if getattr(context, "with_api_key", False):  # checked as the operation runs
        return False
    try:
        context.user_id()  # a login that has not expired
    except PracticumError:  # no token, or one that is not valid
        return True
    return False


class SignedInIntrospection(SchemaExtension):
    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if (
            document is not None
            and not context.pre_execution_errors
            and asks_for_the_schema(document)
            and _anonymous(context.context)
        ):
            context.pre_execution_errors = [
                GraphQLError(
                    "Sign in to read the schema (introspection).",
                    extensions={"code": ErrorCode.UNAUTHENTICATED.value},
                )
            ]
        yield
