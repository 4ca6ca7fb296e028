"""One module per page; importing them registers their routes."""

from ui.pages import (  # noqa: F401
    admin_budgets,
    admin_dashboard,
    admin_errors,
    assignments,
    history,
    home,
    login,
    not_found,
    practice,
    profile_editor,
    profiles,
    progress,
    rubrics,
    sections,
    session,
    teacher_insight,
    teacher_sessions,
    transcript,
)
