"""Imports every domain's models so metadata (Alembic, tests) sees all tables."""

from api.accounts.models import AccountLink, EndedLogin, User
from api.api_keys.models import ApiKey
from api.audit.models import AuditEntry
from api.classes.models import Assignment, Enrollment, Section, assignment_clients
from api.clients.models import ClientCheck, ClientProfile
from api.conversations.models import Message, Session, SessionFeedback
from api.db.base import Base
from api.limits.models import StoredRateLimits
from api.ops.models import ErrorEvent
from api.teaching.models import (
    CriterionScore,
    Evaluation,
    ReviewComment,
    Rubric,
    RubricVersion,
    SessionMeasures,
)
from api.usage.models import Budget, BudgetSpend, CostAlert, DailyUsage, UsageRecord

__all__ = [
    "AccountLink",
    "ApiKey",
    "Assignment",
    "AuditEntry",
    "Base",
    "Budget",
    "BudgetSpend",
    "ClientCheck",
    "ClientProfile",
    "CostAlert",
    "CriterionScore",
    "DailyUsage",
    "EndedLogin",
    "Enrollment",
    "ErrorEvent",
    "Evaluation",
    "Message",
    "ReviewComment",
    "Rubric",
    "RubricVersion",
    "Section",
    "Session",
    "SessionFeedback",
    "SessionMeasures",
    "StoredRateLimits",
    "UsageRecord",
    "User",
    "assignment_clients",
]
