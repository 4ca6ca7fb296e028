"""`/`: sends each user to where they start."""

import reflex as rx

from ui import routes
from ui.components.feedback import loading
from ui.components.layout import page
from ui.state.base import AppState


@rx.page(route=routes.HOME, title="Practicum", on_load=AppState.go_home)
def home() -> rx.Component:
    return page("Practicum", loading("Opening your start page…"))
