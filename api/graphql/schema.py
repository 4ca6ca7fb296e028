"""The schema: one query/mutation mixin per domain, plus the abuse limits and error mapping."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter
from strawberry.types import ExecutionContext

from api.config import Settings
from api.graphql.accounts import AccountMutations, AccountQueries
from api.graphql.classes import ClassMutations, ClassQueries
from api.graphql.clients import ClientMutations, ClientQueries
from api.graphql.context import UnitOfWork
from api.graphql.conversations import ConversationMutations, ConversationQueries
from api.graphql.errors import ErrorCodes, log_errors


@strawberry.type
class Query(AccountQueries, ClientQueries, ClassQueries, ConversationQueries):
    pass


@strawberry.type
class Mutation(AccountMutations, ClientMutations, ClassMutations, ConversationMutations):
    pass


class PracticumSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        log_errors(errors)


def build_schema(settings: Settings) -> PracticumSchema:
    return PracticumSchema(
        query=Query,
        mutation=Mutation,
        # Classes or factories, never instances: each operation gets fresh extensions
        # (Strawberry sets per-request state on them).
        extensions=[
            ErrorCodes,
            lambda: QueryDepthLimiter(max_depth=settings.max_query_depth),
            lambda: MaxAliasesLimiter(max_alias_count=settings.max_query_aliases),
            lambda: MaxTokensLimiter(max_token_count=settings.max_query_tokens),
            UnitOfWork,
        ],
    )


def print_sdl(settings: Settings | None = None) -> str:
    return str(build_schema(settings or Settings())) + "\n"
