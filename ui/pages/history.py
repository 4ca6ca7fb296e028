"""Placeholder until this page is built."""

import reflex as rx

from ui import routes
from ui.components.layout import page
from ui.state.base import guard


@rx.page(route=routes.HISTORY, title="Practicum", on_load=guard("STUDENT"))
def history() -> rx.Component:
    return page("history")
