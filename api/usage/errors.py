from api.errors import PracticumError


class UsageError(PracticumError):
    """Budgets, cost alerts and usage analytics."""
