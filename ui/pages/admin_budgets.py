"""Placeholder until this page is built."""

import reflex as rx

from ui import routes
from ui.components.layout import page
from ui.state.base import guard


@rx.page(route=routes.ADMIN_BUDGETS, title="Practicum", on_load=guard("ADMIN"))
def admin_budgets() -> rx.Component:
    return page("admin_budgets")
