"""The schema: one query/mutation mixin per domain, plus the abuse limits and error mapping."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
)
from strawberry.schema.types.base_scalars import DecimalDefinition
from strawberry.types import ExecutionContext

from api.config import Settings
from api.graphql.accounts import AccountMutations, AccountQueries
from api.graphql.api_keys import ApiKeyMutations, ApiKeyQueries
from api.graphql.audit import AuditQueries
from api.graphql.classes import ClassMutations, ClassQueries
from api.graphql.clients import ClientMutations, ClientQueries
from api.graphql.context import UnitOfWork
from api.graphql.conversations import ConversationMutations, ConversationQueries
from api.graphql.cost import CostLimit, ExpansionLimit, ValidationCacheUnlessRefused
from api.graphql.errors import ErrorCodes, log_errors
from api.graphql.inputs import STORABLE_DATETIME, StorableText
from api.graphql.introspection import SignedInIntrospection
from api.graphql.invites import InviteMutations
from api.graphql.limits import LimitMutations, LimitQueries
from api.graphql.review import ReviewMutations, ReviewQueries
from api.graphql.session_events import ConversationSubscriptions
from api.graphql.shared_events import SharedEventExecutor, shared_response
from api.graphql.teaching import TeachingMutations, TeachingQueries, TeachingSubscriptions
from api.graphql.time_slices import TimeSlices
from api.graphql.usage import UsageMutations, UsageQueries, UsageSubscriptions
from api.graphql.users import UserAdminMutations, UserAdminQueries


@strawberry.type
class Query(
    AccountQueries,
    ClientQueries,
    ClassQueries,
    ConversationQueries,
    UsageQueries,
    LimitQueries,
    TeachingQueries,
    AuditQueries,
    UserAdminQueries,
    ApiKeyQueries,
    ReviewQueries,
):
    pass


@strawberry.type
class Mutation(
    AccountMutations,
    ClientMutations,
    ClassMutations,
    ConversationMutations,
    UsageMutations,
    LimitMutations,
    TeachingMutations,
    UserAdminMutations,
    ApiKeyMutations,
    InviteMutations,
    ReviewMutations,
):
    pass


@strawberry.type
class Subscription(ConversationSubscriptions, UsageSubscriptions, TeachingSubscriptions):
    pass


class PracticumSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        log_errors(errors)

    async def _handle_execution_result(self, context, result, extensions_runner, **options):
        # A subscription event shared by many sockets gets its response made once.
        response = await shared_response(
            result,
            lambda: super(PracticumSchema, self)._handle_execution_result(
                context, result, extensions_runner, **options
            ),
        )
        context.result = response
        return response


DOCUMENT_CACHE_SIZE = 512


class DocumentCache(ParserCache):
    """Parsed documents, cached. A document that fails to parse is left to Strawberry's own
    parsing, which reports the error like any other (ParserCache would raise it past the
    extensions that give errors their codes)."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        try:
            context.graphql_document = self.cached_parse_document(
                context.query, **context.parse_options
            )
        except GraphQLError:
            pass
        yield


def _abuse_limits(settings: Settings):
    """Depth and alias limits as validation rules built once, so that validation results
    can be cached per document (new rule classes per request would never hit the cache)."""
    rules = [
        *QueryDepthLimiter(max_depth=settings.max_query_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.max_query_aliases).validation_rules,
    ]
    return lambda: AddValidationRules(rules)


# Money and shares as plain decimal text: "0.000000123" and "10", never "1.23E-7" or "1E+1".
PLAIN_DECIMAL = dataclasses.replace(DecimalDefinition, serialize=lambda value: format(value, "f"))


def build_schema(settings: Settings) -> PracticumSchema:
    return PracticumSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        scalar_overrides={Decimal: PLAIN_DECIMAL, datetime: STORABLE_DATETIME},
        execution_context_class=SharedEventExecutor,  # one execution per event, not per socket
        # Classes or factories, never instances: each operation gets fresh extensions
        # (Strawberry sets per-request state on them). Clients send the same few
        # documents over and over, so parsing and validation are cached.
        extensions=[
            ErrorCodes,
            lambda: MaxTokensLimiter(max_token_count=settings.max_query_tokens),
            lambda: DocumentCache(maxsize=DOCUMENT_CACHE_SIZE),
            _abuse_limits(settings),
            lambda: ExpansionLimit(settings),  # before validation, which would take ages
            lambda: ValidationCacheUnlessRefused(maxsize=DOCUMENT_CACHE_SIZE),
            lambda: CostLimit(settings),  # after validation: it needs a valid document
            *([] if settings.anonymous_introspection else [SignedInIntrospection]),
            StorableText,
            UnitOfWork,
            TimeSlices,  # large answers let the loop serve other requests as they go
        ],
    )


def print_sdl(settings: Settings | None = None) -> str:
    return str(build_schema(settings or Settings())) + "\n"
