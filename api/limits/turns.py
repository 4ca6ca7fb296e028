"""What a turn must pass before the model is asked: the budgets it counts toward and,
for a new message, the rate limits."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.security import Actor
from api.conversations.models import Session
from api.limits.rate import RateLimits
from api.llm.base import ChatRequest
from api.ops import metrics
from api.usage import budgets
from api.usage.errors import UsageError
from api.usage.pricing import PriceTable


@dataclass
class TurnLimits:
    rates: RateLimits
    prices: PriceTable

    async def admit(
        self,
        session: AsyncSession,
        actor: Actor,
        conversation: Session,
        request: ChatRequest,
        *,
        new_message: bool = True,
    ) -> None:
        """Raise BUDGET_EXCEEDED or RATE_LIMITED, or use one message of the quota.

        Call it last, after every other check: a request refused for another reason
        must not use up the student's quota.
        """
        worst_case = self.prices.worst_case(
            request.model, request.estimated_input_tokens(), request.max_tokens
        )
        try:
            await budgets.check_turn(session, actor, conversation, worst_case)
        except UsageError as refused:
            metrics.BUDGET_REFUSED.labels(refused.details["scope"], refused.details["period"]).inc()
            raise
        if new_message:
            await self.rates.message(actor.id, session)
