"""Placeholder until this page is built."""

import reflex as rx

from ui import routes
from ui.components.layout import page
from ui.state.base import guard


@rx.page(route=routes.TEACHER_SESSIONS, title="Practicum", on_load=guard("TEACHER", "ADMIN"))
def teacher_sessions() -> rx.Component:
    return page("teacher_sessions")
