"""Placeholder until this page is built."""

import reflex as rx

from ui import routes
from ui.components.layout import page
from ui.state.base import guard


@rx.page(route=routes.TRANSCRIPT, title="Practicum", on_load=guard())
def transcript() -> rx.Component:
    return page("transcript")
