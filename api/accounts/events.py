"""Account events: what live connections of an account hear when its logins end or its
rights change (sign-out, sign out everywhere, password change or reset, deactivation, a
new role).

Every event goes on one channel, `ACCOUNTS_CHANNEL`, through the runtime's event broker
(in-process, or Redis across replicas). Each API process listens once
(api/graphql/subscriptions.py `AccountWatch`) and makes the live subscriptions of that
account check their login and account again at once: a subscription whose login has
ended, or whose account may no longer see it, ends within moments instead of at its next
periodic re-check.

Publish after the change is committed, so that the re-check reads it:

    await session.commit()
    publish_account_event(runtime.broker, user.id, AccountEventKind.DEACTIVATED)
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from api.events.broker import Broker

ACCOUNTS_CHANNEL = "accounts"


class AccountEventKind(StrEnum):
    SIGNED_OUT = "SIGNED_OUT"  # one login ended (`login_id`)
    SIGNED_OUT_EVERYWHERE = "SIGNED_OUT_EVERYWHERE"
    PASSWORD_CHANGED = "PASSWORD_CHANGED"  # the user's other logins ended
    PASSWORD_RESET = "PASSWORD_RESET"  # a reset or invite link was used: other logins ended
    DEACTIVATED = "DEACTIVATED"
    ROLE_CHANGED = "ROLE_CHANGED"
    ERASED = "ERASED"


@dataclass(frozen=True)
class AccountEvent:
    """Something changed about `user_id`'s account: its live subscriptions check again.
    `login_id` names the one login that ended, when only one did."""

    user_id: uuid.UUID
    kind: AccountEventKind
    login_id: uuid.UUID | None = None

    def to_json(self) -> dict:
        return {
            "user_id": str(self.user_id),
            "kind": self.kind.value,
            "login_id": str(self.login_id) if self.login_id else None,
        }

    @classmethod
    def from_json(cls, data: dict) -> AccountEvent:
        login_id = data.get("login_id")
        return cls(
            user_id=uuid.UUID(data["user_id"]),
            kind=AccountEventKind(data["kind"]),
            login_id=uuid.UUID(login_id) if login_id else None,
        )


def publish_account_event(
    broker: Broker,
    user_id: uuid.UUID,
    kind: AccountEventKind,
    login_id: uuid.UUID | None = None,
) -> AccountEvent:
    """Tell every API process that `user_id`'s live subscriptions must check again now."""
    event = AccountEvent(user_id=user_id, kind=kind, login_id=login_id)
    broker.publish(ACCOUNTS_CHANNEL, event)
    return event
