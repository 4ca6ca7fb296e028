"""The one place where failures become GraphQL errors with a stable `extensions.code`."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.utils.str_converters import to_camel_case

from api.errors import ErrorCode, PracticumError

log = logging.getLogger("practicum.graphql")

INTERNAL_MESSAGE = "Something went wrong on our side. Please try again in a moment."


def to_graphql_error(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    if isinstance(original, PracticumError):
        extensions = {"code": original.code.value, **_in_graphql_names(original.details)}
        return _copy(error, original.message, extensions)
    if original is None or isinstance(original, GraphQLError):
        # Parse, validation and variable errors (including depth, alias, token and cost
        # limits, which may add details such as the cost).
        extensions = {"code": ErrorCode.BAD_USER_INPUT.value, **(error.extensions or {})}
        return _copy(error, error.message, extensions)
    return _copy(error, INTERNAL_MESSAGE, {"code": ErrorCode.INTERNAL.value})


def _in_graphql_names(details: dict) -> dict:
    """Services name fields as Python does (`presenting_concern`); clients see the names of
    the GraphQL arguments and input fields (`presentingConcern`)."""
    details = dict(details)
    if "field" in details:
        details["field"] = to_camel_case(details["field"])
    if "fields" in details:
        details["fields"] = [
            {**problem, "field": to_camel_case(problem["field"])} for problem in details["fields"]
        ]
    return details


def _copy(error: GraphQLError, message: str, extensions: dict) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions=extensions,
    )


def log_errors(errors: list[GraphQLError]) -> None:
    """Log what clients cannot see: unexpected failures with their traceback, the rest briefly."""
    for error in errors:
        original = error.original_error
        if original is None or isinstance(original, PracticumError | GraphQLError):
            log.debug("graphql error: %s", error.message)
        else:
            log.error("unexpected error in %s", error.path, exc_info=original)


class ErrorCodes(SchemaExtension):
    _streamed = False

    def on_operation(self) -> Iterator[None]:
        yield
        if not self._streamed:
            _map_errors(self.execution_context.result)

    def on_stream_result(self, result) -> Iterator[None]:
        # Websocket results are sent before on_operation resumes: map them here.
        self._streamed = True
        _map_errors(result)
        yield


def _map_errors(result) -> None:
    if result is not None and getattr(result, "errors", None):
        result.errors = [to_graphql_error(e) for e in result.errors]
