"""Imports every domain's models so metadata (Alembic, tests) sees all tables."""

from api.accounts.models import User
from api.classes.models import Assignment, Enrollment, Section, assignment_clients
from api.clients.models import ClientCheck, ClientProfile
from api.conversations.models import Message, Session, SessionFeedback
from api.db.base import Base
from api.limits.models import StoredRateLimits
from api.ops.models import ErrorEvent
from api.usage.models import Budget, BudgetSpend, CostAlert, DailyUsage, UsageRecord

__all__ = [
    "Assignment",
    "Base",
    "Budget",
    "BudgetSpend",
    "ClientCheck",
    "ClientProfile",
    "CostAlert",
    "DailyUsage",
    "Enrollment",
    "ErrorEvent",
    "Message",
    "Section",
    "Session",
    "SessionFeedback",
    "StoredRateLimits",
    "UsageRecord",
    "User",
    "assignment_clients",
]
