"""Placeholder until this page is built."""

import reflex as rx

from ui import routes
from ui.components.layout import page
from ui.state.base import guard


@rx.page(route=routes.PROFILE_EDITOR, title="Practicum", on_load=guard("TEACHER", "ADMIN"))
def profile_editor() -> rx.Component:
    return page("profile_editor")
