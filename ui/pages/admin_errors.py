"""`/admin/errors`: the error log, newest first, with filters."""

import reflex as rx

from ui import routes
from ui.components.feedback import empty_state, error_callout, loading
from ui.components.forms import field, filter_actions, text_input
from ui.components.layout import page
from ui.components.tables import cell, data_table
from ui.state.admin_errors import CATEGORIES
from ui.state.admin_errors import AdminErrorsState as S
from ui.state.base import guard


def _category_select() -> rx.Component:
    return field(
        "Category",
        "category",
        rx.select.root(
            rx.select.trigger(id="category", width="100%"),
            rx.select.content(*[rx.select.item(label, value=value) for value, label in CATEGORIES]),
            value=S.category,
            on_change=S.set_category,
            name="category",
        ),
    )


def _filters() -> rx.Component:
    return rx.card(
        rx.form(
            rx.vstack(
                rx.grid(
                    _category_select(),
                    text_input(
                        "Practice session id",
                        "session_id",
                        S.session_id,
                        S.set_session_id,
                        error=S.session_id_error,
                        placeholder="Any session",
                        spell_check=False,
                    ),
                    text_input(
                        "From (UTC)",
                        "since",
                        S.since,
                        S.set_since,
                        error=S.since_error,
                        type="date",
                    ),
                    text_input(
                        "To (UTC, inclusive)",
                        "until",
                        S.until,
                        S.set_until,
                        error=S.until_error,
                        type="date",
                    ),
                    columns=rx.breakpoints(initial="1", sm="2", lg="4"),
                    spacing="3",
                    width="100%",
                ),
                filter_actions(S.loading, S.clear, S.filtered),
                spacing="3",
                width="100%",
            ),
            on_submit=S.apply,
            aria_label="Filter the error log",
        ),
        width="100%",
    )


def _event_cells(event) -> list[rx.Component]:
    return [
        rx.table.row_header_cell(event["time"], white_space="nowrap"),
        cell(rx.code(event["category"], variant="ghost")),
        rx.table.cell(event["message"], min_width="12rem", max_width="28rem"),
        cell(event["status"]),
        cell(event["model"]),
        cell(rx.code(event["request_id"], variant="ghost", size="1")),
        cell(_transcript_link(event, "—")),
    ]


def _transcript_link(event, otherwise=None) -> rx.Component:
    """The event's session's transcript, when it belongs to one."""
    link = rx.link(
        "Transcript",
        href=event["session_href"],
        aria_label="Transcript of session " + event["session_id"],
    )
    if otherwise is None:
        return rx.cond(event["session_href"] != "", link)
    return rx.cond(event["session_href"] != "", link, otherwise)


def _event_card(event) -> rx.Component:
    """One error on a phone, where the table's seven columns do not fit."""
    return rx.card(
        rx.vstack(
            rx.flex(
                rx.code(event["category"], variant="ghost"),
                rx.text(event["time"], size="1", color_scheme="gray"),
                spacing="2",
                wrap="wrap",
                align="baseline",
            ),
            rx.text(event["message"], overflow_wrap="anywhere"),
            rx.text(
                "Status ",
                event["status"],
                " · ",
                event["model"],
                size="2",
                color_scheme="gray",
                overflow_wrap="anywhere",
            ),
            rx.text(
                "Request ",
                rx.code(event["request_id"], variant="ghost", size="1"),
                size="1",
                color_scheme="gray",
                overflow_wrap="anywhere",
            ),
            _transcript_link(event),
            spacing="1",
            min_width="0",
        ),
        width="100%",
        data_testid="error-card",
    )


HEADERS = ["Time", "Category", "Message", "Upstream status", "Model", "Request id", "Session"]


def _log() -> rx.Component:
    return rx.vstack(
        data_table(
            HEADERS,
            S.rows,
            _event_cells,
            "Error events, newest first",
            phone_card=_event_card,
        ),
        rx.cond(
            S.has_more,
            rx.button(
                "Load more",
                on_click=S.load_more,
                loading=S.loading_more,
                variant="soft",
                width="fit-content",
            ),
        ),
        spacing="3",
        width="100%",
        align="start",
    )


def _results() -> rx.Component:
    return rx.cond(
        S.loading,
        loading("Loading errors…"),
        rx.cond(
            S.rows.length() > 0,
            _log(),
            rx.cond(
                S.error == "",
                empty_state(
                    "No errors in this period",
                    rx.cond(
                        S.filtered,
                        "Nothing matches these filters. Try another category or more days.",
                        "Nothing has gone wrong yet. Provider errors and timeouts appear here.",
                    ),
                    icon="circle-check",
                ),
            ),
        ),
    )


@rx.page(route=routes.ADMIN_ERRORS, title="Errors · Practicum", on_load=[guard("ADMIN"), S.load])
def admin_errors() -> rx.Component:
    return page("Error log", _filters(), error_callout(S.error), _results())
