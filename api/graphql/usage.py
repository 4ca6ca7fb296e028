"""Usage analytics, budgets, cost alerts and error events; the admins' live metrics."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from api.accounts.security import Actor
from api.db.session import after_commit
from api.graphql.context import Info
from api.graphql.ids import parse_id, parse_optional_id, to_id
from api.graphql.permissions import IsAuthenticated
from api.graphql.relay import Connection
from api.graphql.subscriptions import while_allowed
from api.ops import models as ops_models
from api.usage import analytics, budgets, live, models
from api.usage.alerts import COST_ALERTS_CHANNEL, describe, publish

GroupBy = strawberry.enum(analytics.GroupBy, name="UsageGroupBy")
BudgetScope = strawberry.enum(models.BudgetScope, name="BudgetScope")
BudgetPeriod = strawberry.enum(models.BudgetPeriod, name="BudgetPeriod")


@strawberry.input(description="Whole UTC days, both ends included.")
class DateRangeInput:
    start: date
    end: date


@strawberry.type(description="Tokens and cost of model calls, and messages stored.")
class UsageTotals:
    messages: int
    model_calls: int
    input_tokens: int
    output_tokens: int
    cache_write_tokens: int
    cache_read_tokens: int
    total_tokens: int
    cost: Decimal = strawberry.field(description="US dollars, exact.")
    cache_read_share: Decimal = strawberry.field(
        description="Of the input tokens, the share read from the prompt cache (0 to 1)."
    )

    @classmethod
    def of(cls, totals: analytics.Totals) -> UsageTotals:
        return cls(
            messages=totals.messages,
            model_calls=totals.calls,
            input_tokens=totals.input_tokens,
            output_tokens=totals.output_tokens,
            cache_write_tokens=totals.cache_write_tokens,
            cache_read_tokens=totals.cache_read_tokens,
            total_tokens=totals.total_tokens,
            cost=totals.cost,
            cache_read_share=totals.cache_read_share,
        )


UsageKind = strawberry.enum(
    models.UsageKind,
    name="UsageKind",
    description="What a model call was for: a client's REPLY, or the EVALUATION of a "
    "finished session (feedback). Budgets count both.",
)


@strawberry.type(description="The model calls of one kind (messages is always 0 here).")
class UsageByKind:
    kind: UsageKind
    totals: UsageTotals


@strawberry.type
class UsageSummary:
    start: date
    end: date
    sessions: int = strawberry.field(description="Sessions started in the range.")
    completed_sessions: int = strawberry.field(description="Sessions ended in the range.")
    totals: UsageTotals = strawberry.field(description="Every kind of model call together.")
    average_cost_per_completed_session: Decimal
    median_cost_per_completed_session: Decimal
    by_kind: list[UsageByKind] = strawberry.field(
        description="The range's model calls split by kind: replies and evaluations."
    )


@strawberry.type
class UsageBucket:
    key: str = strawberry.field(description="The day (YYYY-MM-DD), model name, or id.")
    label: str
    sessions: int = strawberry.field(
        description="Sessions whose first message was in the range (counted under the "
        "session's model)."
    )
    totals: UsageTotals


@strawberry.type
class DailyStat:
    day: date
    sessions_created: int
    messages_stored: int
    tokens_used: int
    cost: Decimal
    errors: int


@strawberry.type
class ClientFeedback:
    client_profile_id: strawberry.ID
    client_name: str
    ratings: int
    average_rating: Decimal
    positive_share: Decimal = strawberry.field(description="Ratings of 4 or 5, as a share.")


@strawberry.type
class Budget:
    id: strawberry.ID
    scope: BudgetScope
    section_id: strawberry.ID | None
    student_id: strawberry.ID | None
    period: BudgetPeriod
    limit_usd: Decimal
    alert_percents: list[int]
    spent_usd: Decimal = strawberry.field(description="Spent in the current period.")
    period_start: date
    resets_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, status: budgets.BudgetStatus) -> Budget:
        budget = status.budget
        return cls(
            id=to_id(budget.id),
            scope=budget.scope,
            section_id=to_id(budget.section_id) if budget.section_id else None,
            student_id=to_id(budget.student_id) if budget.student_id else None,
            period=budget.period,
            limit_usd=budget.limit_usd,
            alert_percents=list(budget.alert_percents),
            spent_usd=status.spent,
            period_start=status.period_start,
            resets_at=status.resets_at,
            updated_at=budget.updated_at,
        )


@strawberry.type
class CostAlert:
    id: strawberry.ID
    budget_id: strawberry.ID
    scope: BudgetScope
    section_id: strawberry.ID | None
    student_id: strawberry.ID | None
    period: BudgetPeriod
    period_start: date
    percent: int
    spent_usd: Decimal
    limit_usd: Decimal
    message: str
    created_at: datetime

    @classmethod
    def from_model(cls, alert: models.CostAlert) -> CostAlert:
        return cls(
            id=to_id(alert.id),
            budget_id=to_id(alert.budget_id),
            scope=alert.scope,
            section_id=to_id(alert.section_id) if alert.section_id else None,
            student_id=to_id(alert.student_id) if alert.student_id else None,
            period=alert.period,
            period_start=alert.period_start,
            percent=alert.percent,
            spent_usd=alert.spent,
            limit_usd=alert.limit_usd,
            message=describe(alert),
            created_at=alert.created_at,
        )


@strawberry.type
class ErrorEvent:
    id: strawberry.ID
    category: str = strawberry.field(description="e.g. provider.rate_limited")
    message: str
    upstream_status: int | None
    upstream_request_id: str | None = strawberry.field(description="The provider's request id.")
    request_id: str | None = strawberry.field(description="Practicum's request id, as logged.")
    model: str | None
    session_id: strawberry.ID | None
    user_id: strawberry.ID | None
    details: JSON
    created_at: datetime

    @classmethod
    def from_model(cls, event: ops_models.ErrorEvent) -> ErrorEvent:
        return cls(
            id=to_id(event.id),
            category=event.category,
            message=event.message,
            upstream_status=event.upstream_status,
            upstream_request_id=event.upstream_request_id,
            request_id=event.request_id,
            model=event.model,
            session_id=to_id(event.session_id) if event.session_id else None,
            user_id=to_id(event.user_id) if event.user_id else None,
            details=event.details or {},
            created_at=event.created_at,
        )


@strawberry.input
class ErrorEventFilter:
    category: str | None = strawberry.field(
        default=None, description="`provider` matches every `provider.*` category."
    )
    session_id: strawberry.ID | None = None
    since: datetime | None = None
    until: datetime | None = None


@strawberry.type(description="What is happening now, for the admin dashboard.")
class UsageMetrics:
    active_sessions: int
    streaming_replies: int
    messages_per_minute: int = strawberry.field(description="Messages stored in the last minute.")
    tokens_today: int
    cost_today: Decimal = strawberry.field(description="US dollars, exact, since 00:00 UTC.")
    errors_last_hour: int
    time_to_first_token_p50_ms: int | None = strawberry.field(description="Last 5 minutes.")
    time_to_first_token_p95_ms: int | None = strawberry.field(description="Last 5 minutes.")
    at: datetime

    @classmethod
    def of(cls, figures: live.UsageMetrics) -> UsageMetrics:
        return cls(
            active_sessions=figures.active_sessions,
            streaming_replies=figures.streaming_replies,
            messages_per_minute=figures.messages_last_minute,
            tokens_today=figures.tokens_today,
            cost_today=figures.cost_today,
            errors_last_hour=figures.errors_last_hour,
            time_to_first_token_p50_ms=figures.ttft_p50_ms,
            time_to_first_token_p95_ms=figures.ttft_p95_ms,
            at=figures.at,
        )


@strawberry.input
class SetBudgetInput:
    scope: BudgetScope
    period: BudgetPeriod
    limit_usd: Decimal = strawberry.field(description="US dollars, more than 0.")
    section_id: strawberry.ID | None = None
    student_id: strawberry.ID | None = None
    alert_percents: list[int] | None = strawberry.field(
        default=None,
        description="Percents of the limit that raise an alert (default 50, 80, 100; "
        "an empty list: none).",
    )


@strawberry.type
class SetBudgetPayload:
    budget: Budget


@strawberry.type
class DeleteBudgetPayload:
    deleted_id: strawberry.ID


def _days(ctx, range: DateRangeInput) -> tuple:
    return ctx.session, ctx.actor, ctx.settings, range.start, range.end


INCLUDE_TESTS = strawberry.argument(
    description="Count teachers' and admins' own test conversations too (`Session.isTest`); "
    "by default the figures are students' practice only."
)


@strawberry.type
class UsageQueries:
    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="Totals over a range: admins everything, teachers their sections.",
    )
    async def usage_summary(
        self,
        info: Info,
        range: DateRangeInput,
        include_tests: Annotated[bool, INCLUDE_TESTS] = False,
    ) -> UsageSummary:
        summary = await analytics.usage_summary(*_days(info.context, range), include_tests)
        return UsageSummary(
            start=summary.span.first,
            end=summary.span.last,
            sessions=summary.sessions,
            completed_sessions=summary.completed_sessions,
            totals=UsageTotals.of(summary.totals),
            average_cost_per_completed_session=summary.average_cost_per_completed,
            median_cost_per_completed_session=summary.median_cost_per_completed,
            by_kind=[
                UsageByKind(kind=models.UsageKind(kind), totals=UsageTotals.of(totals))
                for kind, totals in summary.by_kind.items()
            ],
        )

    @strawberry.field(permission_classes=[IsAuthenticated])
    async def usage(
        self,
        info: Info,
        range: DateRangeInput,
        group_by: GroupBy,
        include_tests: Annotated[bool, INCLUDE_TESTS] = False,
    ) -> list[UsageBucket]:
        buckets = await analytics.usage_by(*_days(info.context, range), group_by, include_tests)
        return [
            UsageBucket(
                key=b.key, label=b.label, sessions=b.sessions, totals=UsageTotals.of(b.totals)
            )
            for b in buckets
        ]

    @strawberry.field(
        permission_classes=[IsAuthenticated], description="Every day of the range, quiet ones too."
    )
    async def daily_stats(
        self,
        info: Info,
        range: DateRangeInput,
        include_tests: Annotated[bool, INCLUDE_TESTS] = False,
    ) -> list[DailyStat]:
        return [
            DailyStat(
                day=stat.day,
                sessions_created=stat.sessions_created,
                messages_stored=stat.totals.messages,
                tokens_used=stat.totals.total_tokens,
                cost=stat.totals.cost,
                errors=stat.errors,
            )
            for stat in await analytics.daily_stats(*_days(info.context, range), include_tests)
        ]

    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="Students' ratings of finished sessions, per client profile.",
    )
    async def client_feedback(self, info: Info, range: DateRangeInput) -> list[ClientFeedback]:
        return [
            ClientFeedback(
                client_profile_id=to_id(f.client_profile_id),
                client_name=f.client_name,
                ratings=f.ratings,
                average_rating=f.average_rating,
                positive_share=f.positive_share,
            )
            for f in await analytics.feedback_by_client(*_days(info.context, range))
        ]

    @strawberry.field(permission_classes=[IsAuthenticated], description="Newest first.")
    async def error_events(
        self,
        info: Info,
        filter: ErrorEventFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[ErrorEvent]:
        ctx = info.context
        where = analytics.ErrorFilter()
        if filter is not None:
            where = analytics.ErrorFilter(
                category=filter.category,
                session_id=parse_optional_id(filter.session_id, "sessionId"),
                since=filter.since,
                until=filter.until,
            )
        page = await analytics.error_events(ctx.session, ctx.actor, ctx.page(first, after), where)
        return Connection.of(page, ErrorEvent.from_model)

    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="Cost caps with what was spent in the current period.",
    )
    async def budgets(self, info: Info) -> list[Budget]:
        ctx = info.context
        return [Budget.of(s) for s in await budgets.list_budgets(ctx.session, ctx.actor)]

    @strawberry.field(permission_classes=[IsAuthenticated], description="Newest first.")
    async def cost_alerts(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[CostAlert]:
        ctx = info.context
        page = await budgets.list_alerts(ctx.session, ctx.actor, ctx.page(first, after))
        return Connection.of(page, CostAlert.from_model)


@strawberry.type
class UsageMutations:
    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="Create or change the cap for a scope and period. Admins: any; "
        "teachers: their sections, within the global cap.",
    )
    async def set_budget(self, info: Info, input: SetBudgetInput) -> SetBudgetPayload:
        ctx = info.context
        fields = budgets.BudgetFields(
            scope=input.scope,
            period=input.period,
            limit_usd=input.limit_usd,
            section_id=parse_optional_id(input.section_id, "sectionId"),
            student_id=parse_optional_id(input.student_id, "studentId"),
            alert_percents=input.alert_percents,
        )
        done = await budgets.set_budget(ctx.session, ctx.actor, ctx.settings, fields)
        after_commit(ctx.session, lambda: publish(ctx.runtime.broker, done.alerts))
        return SetBudgetPayload(budget=Budget.of(done.status))

    @strawberry.mutation(permission_classes=[IsAuthenticated])
    async def delete_budget(self, info: Info, id: strawberry.ID) -> DeleteBudgetPayload:
        budget = await budgets.delete_budget(info.context.session, info.context.actor, parse_id(id))
        return DeleteBudgetPayload(deleted_id=to_id(budget.id))


@strawberry.type
class UsageSubscriptions:
    @strawberry.subscription(
        description="Admins: live usage, pushed when it changes, at most once a second."
    )
    async def usage_metrics(self, info: Info) -> AsyncGenerator[UsageMetrics, None]:
        watch = info.context.runtime.live_usage.watch

        async def figures(actor: Actor) -> AsyncGenerator[UsageMetrics, None]:
            live.authorize(actor)
            async for snapshot in watch():
                yield UsageMetrics.of(snapshot)

        async for update in while_allowed(info, figures, _admins_only):
            yield update

    @strawberry.subscription(description="Admins: cost alerts as they fire.")
    async def cost_alerts(self, info: Info) -> AsyncGenerator[CostAlert, None]:
        broker = info.context.runtime.broker

        async def alerts(actor: Actor) -> AsyncGenerator[CostAlert, None]:
            live.authorize(actor)
            async with broker.subscribe(COST_ALERTS_CHANNEL) as fired:
                async for alert in fired:
                    yield CostAlert.from_model(alert)

        async for alert in while_allowed(info, alerts, _admins_only):
            yield alert


async def _admins_only(actor: Actor) -> None:
    live.authorize(actor)
