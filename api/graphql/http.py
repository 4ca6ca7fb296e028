"""GraphQL over HTTP, as the GraphQL-over-HTTP spec says.

Strawberry's own HTTP view answers `application/graphql-response+json` requests with the
wrong status codes, so HTTP is served here and Strawberry only executes. Its router still
serves the graphql-transport-ws websocket on the same path.

The rules, in short:
- media type: `application/graphql-response+json` when the client accepts it, else
  `application/json` (also for `*/*` or no Accept); anything else is 406;
- a request that is not well-formed (bad JSON, missing or mistyped parameters) is a 400;
- a document that cannot run (unparseable, invalid, over a limit) is a 400 without `data`
  with `application/graphql-response+json`, and a 200 with `errors` with `application/json`
  (legacy clients read only the body);
- GET runs queries only (mutations are 405); POST needs `Content-Type: application/json`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from strawberry.exceptions import MissingQueryError
from strawberry.http.ides import get_graphql_ide_html
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from api.errors import ErrorCode
from api.graphql.context import Context
from api.graphql.schema import PracticumSchema
from api.runtime import Runtime

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"


# Deeper JSON than any real request needs (an input object in a list in the variables is
# five levels): the parser and everything after it recurse, and would crash past ~1,000.
MAX_JSON_DEPTH = 32


class TooDeep(ValueError):
    def __init__(self) -> None:
        super().__init__(f"nested deeper than {MAX_JSON_DEPTH} levels")


def load_json(text: str | bytes) -> Any:
    """`json.loads`, refusing JSON nested deeper than MAX_JSON_DEPTH."""
    try:
        value = json.loads(text)
    except RecursionError as error:
        raise TooDeep from error
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise TooDeep
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
    return value


class BadRequest(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass
class GraphQLParams:
    query: str
    operation_name: str | None
    variables: dict[str, Any] | None
    extensions: dict[str, Any] | None


def negotiate(accept: str | None) -> str | None:
    """The response media type for an Accept header, or None when we can offer nothing."""
    if not accept or not accept.strip():
        return JSON
    ranges = []
    for position, part in enumerate(accept.split(",")):
        media, *params = [p.strip() for p in part.split(";")]
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            ranges.append((-quality, position, media.lower()))
    for _, _, media in sorted(ranges):
        if media == GRAPHQL_RESPONSE:
            return GRAPHQL_RESPONSE
        if media in (JSON, "application/*", "*/*"):
            return JSON
    return None


def _json_object(value: Any, name: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadRequest(f"The `{name}` parameter must be a JSON object.")
    return value


def _params(data: Any) -> GraphQLParams:
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object with a `query`.")
    query = data.get("query")
    if query is None:
        raise BadRequest("The request has no `query` parameter.")
    if not isinstance(query, str):
        raise BadRequest("The `query` parameter must be a string.")
    operation_name = data.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise BadRequest("The `operationName` parameter must be a string.")
    return GraphQLParams(
        query=query,
        operation_name=operation_name,
        variables=_json_object(data.get("variables"), "variables"),
        extensions=_json_object(data.get("extensions"), "extensions"),
    )


def _from_query_string(request: Request) -> GraphQLParams:
    data: dict[str, Any] = dict(request.query_params)
    for name in ("variables", "extensions"):
        if name in data:
            try:
                data[name] = load_json(data[name])
            except TooDeep as exc:
                raise BadRequest(f"The `{name}` parameter is {exc}.") from exc
            except json.JSONDecodeError as exc:
                raise BadRequest(f"The `{name}` parameter is not valid JSON.") from exc
    return _params(data)


async def _from_body(request: Request, max_bytes: int) -> GraphQLParams:
    content_type = request.headers.get("content-type", "")
    media, *params = [p.strip().lower() for p in content_type.split(";")]
    if media != JSON:
        raise BadRequest("Send the request as `Content-Type: application/json`.", status=415)
    charset = next((p.split("=", 1)[1] for p in params if p.startswith("charset=")), "utf-8")
    if charset.strip('"') != "utf-8":
        raise BadRequest("Only utf-8 request bodies are accepted.", status=415)
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise BadRequest(f"The request body is larger than {max_bytes} bytes.", status=413)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise BadRequest(f"The request body is larger than {max_bytes} bytes.", status=413)
    if not body:
        raise BadRequest("A POST request needs a JSON body with a `query`.")
    try:
        return _params(load_json(body))
    except TooDeep as exc:
        raise BadRequest(f"The request body is {exc}.") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest("The request body is not valid JSON.") from exc


class _JSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        try:
            return text.encode()
        except UnicodeEncodeError:
            # Text stored before inputs were checked may hold an unpaired surrogate, which
            # UTF-8 cannot carry: send U+FFFD in its place rather than fail the response.
            return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode()


def _respond(payload: dict[str, Any], status: int, media: str, **headers: str) -> Response:
    return _JSONResponse(
        payload, status_code=status, media_type=f"{media}; charset=utf-8", headers=headers
    )


def _error_payload(message: str, code: ErrorCode) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code.value}}]}


def _bad_request(error: BadRequest, media: str) -> Response:
    return _respond(_error_payload(error.message, ErrorCode.BAD_USER_INPUT), error.status, media)


def _format_errors(errors: list[GraphQLError]) -> list[dict[str, Any]]:
    return [error.formatted for error in errors]


def _is_request_error(result) -> bool:
    """Errors raised before any field ran carry no path; field errors always do."""
    return (
        result.data is None and bool(result.errors) and all(e.path is None for e in result.errors)
    )


class GraphQLHTTP:
    """The ASGI endpoint for GET and POST on /graphql."""

    def __init__(self, schema: PracticumSchema, runtime: Runtime) -> None:
        self.schema = schema
        self.runtime = runtime

    async def handle(self, request: Request) -> Response:
        settings = self.runtime.settings
        if request.method == "GET" and self._wants_ide(request):
            return HTMLResponse(get_graphql_ide_html(graphql_ide="graphiql"))
        media = negotiate(request.headers.get("accept"))
        if media is None:
            return Response(
                "This endpoint answers with application/graphql-response+json or application/json.",
                status_code=406,
                media_type="text/plain; charset=utf-8",
            )
        try:
            if request.method == "GET":
                params = _from_query_string(request)
            else:
                params = await _from_body(request, settings.max_request_bytes)
        except BadRequest as error:
            return _bad_request(error, media)
        return await self._execute(request, params, media)

    def _wants_ide(self, request: Request) -> bool:
        accept = request.headers.get("accept", "")
        return (
            self.runtime.settings.graphiql
            and "text/html" in accept
            and "query" not in request.query_params
        )

    async def _execute(self, request: Request, params: GraphQLParams, media: str) -> Response:
        context = Context(self.runtime, request.headers.get("authorization"))
        context.request = request
        allowed = (
            {OperationType.QUERY}
            if request.method == "GET"
            else {OperationType.QUERY, OperationType.MUTATION}
        )
        try:
            result = await self.schema.execute(
                params.query,
                variable_values=params.variables,
                context_value=context,
                operation_name=params.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=params.extensions,
            )
        except InvalidOperationTypeError:
            message = (
                "Only queries can be sent with GET; send mutations with POST."
                if request.method == "GET"
                else "Subscriptions run over the graphql-transport-ws websocket on this path."
            )
            payload = _error_payload(message, ErrorCode.BAD_USER_INPUT)
            return _respond(payload, 405, media, allow="POST" if request.method == "GET" else "GET")
        except MissingQueryError:
            return _bad_request(BadRequest("The request has no `query` parameter."), media)
        except CannotGetOperationTypeError:
            message = "The document has no operation by the name given in `operationName`."
            return _bad_request(BadRequest(message), media)

        payload: dict[str, Any] = {}
        if result.errors:
            payload["errors"] = _format_errors(result.errors)
        if _is_request_error(result):
            # The document never ran (unparseable, invalid, over a limit, or variables
            # of the wrong type): no `data`, and a 400 for clients that understand it.
            status = 400 if media == GRAPHQL_RESPONSE else 200
            return _respond(payload, status, media)
        payload["data"] = result.data
        if result.extensions:
            payload["extensions"] = result.extensions
        return _respond(payload, 200, media)
