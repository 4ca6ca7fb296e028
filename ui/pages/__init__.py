"""One module per page; importing them registers their routes."""

from ui.pages import (  # noqa: F401
    account,
    admin_api_keys,
    admin_audit,
    admin_budgets,
    admin_dashboard,
    admin_errors,
    admin_users,
    assignments,
    history,
    home,
    login,
    not_found,
    practice,
    profile_editor,
    profiles,
    sections,
    session,
    teacher_insight,
    teacher_sessions,
    transcript,
)
