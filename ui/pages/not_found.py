"""Any address that is no page: said in the app's shell, with the way home."""

import reflex as rx

from ui.components.layout import dead_end_page
from ui.state.base import AppState

NOT_FOUND_ROUTE = "404"  # Reflex's name for the page of every unknown address


@rx.page(route=NOT_FOUND_ROUTE, title="Page not found · Practicum", on_load=AppState.open_dead_end)
def not_found() -> rx.Component:
    return dead_end_page(
        "Page not found",
        "There is no page at this address. The link may be mistyped, or the page may have moved.",
        rx.cond(AppState.signed_in, "Go to your home page", "Go to the sign-in page"),
        AppState.home,
    )
