"""`/admin/audit`: every administrative change, newest first, with filters."""

import reflex as rx

from ui import routes
from ui.components.feedback import empty_state, error_callout, loading
from ui.components.forms import field, filter_actions, text_input
from ui.components.layout import account_tabs, page
from ui.components.tables import cell, data_table
from ui.state.admin_audit import ACTIONS
from ui.state.admin_audit import AdminAuditState as S
from ui.state.base import guard


def _filters() -> rx.Component:
    return rx.card(
        rx.form(
            rx.vstack(
                rx.grid(
                    field(
                        "Change",
                        "action",
                        rx.select.root(
                            rx.select.trigger(id="action", width="100%"),
                            rx.select.content(
                                *[rx.select.item(label, value=value) for value, label in ACTIONS]
                            ),
                            value=S.action,
                            on_change=S.set_action,
                            name="action",
                        ),
                    ),
                    text_input("From (UTC)", "since", S.since, S.set_since, type="date"),
                    text_input(
                        "To (UTC, inclusive)",
                        "until",
                        S.until,
                        S.set_until,
                        error=S.until_error,
                        type="date",
                    ),
                    columns=rx.breakpoints(initial="1", sm="3"),
                    spacing="3",
                    width="100%",
                ),
                rx.cond(
                    S.actor_id != "",
                    rx.text("Only the changes of one person.", size="2", color_scheme="gray"),
                ),
                filter_actions(S.loading, S.clear, S.filtered),
                spacing="3",
                width="100%",
            ),
            on_submit=S.apply,
            aria_label="Filter the audit log",
        ),
        width="100%",
    )


def _who(entry) -> rx.Component:
    return rx.vstack(
        rx.text(entry["who"], weight="medium"),
        rx.cond(
            entry["who_email"] != "", rx.text(entry["who_email"], size="1", color_scheme="gray")
        ),
        spacing="0",
    )


def _cells(entry) -> list[rx.Component]:
    return [
        rx.table.row_header_cell(entry["time"], white_space="nowrap"),
        cell(_who(entry)),
        rx.table.cell(rx.text(entry["action"]), rx.code(entry["code"], variant="ghost", size="1")),
        cell(entry["target"]),
        rx.table.cell(
            entry["details"], min_width="12rem", max_width="26rem", overflow_wrap="anywhere"
        ),
        cell(rx.code(entry["address"], variant="ghost", size="1")),
    ]


def _card(entry) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.flex(
                rx.text(entry["action"], weight="medium"),
                rx.text(entry["time"], size="1", color_scheme="gray"),
                spacing="2",
                wrap="wrap",
                align="baseline",
            ),
            rx.text("By ", entry["who"], size="2"),
            rx.text(entry["target"], size="2", color_scheme="gray"),
            rx.cond(
                entry["details"] != "",
                rx.text(entry["details"], size="2", overflow_wrap="anywhere"),
            ),
            rx.text("From ", entry["address"], size="1", color_scheme="gray"),
            spacing="1",
            min_width="0",
        ),
        width="100%",
        data_testid="audit-card",
    )


HEADERS = ["Time", "Who", "Change", "On", "Details", "From"]


def _results() -> rx.Component:
    return rx.cond(
        S.loading,
        loading("Loading the audit log…"),
        rx.cond(
            S.rows.length() > 0,
            rx.vstack(
                data_table(
                    HEADERS,
                    S.rows,
                    _cells,
                    "Administrative changes, newest first",
                    phone_card=_card,
                ),
                rx.cond(
                    S.has_more,
                    rx.button(
                        "Load more", on_click=S.load_more, loading=S.loading_more, variant="soft"
                    ),
                ),
                spacing="3",
                width="100%",
                align="start",
            ),
            rx.cond(
                S.error == "",
                empty_state(
                    "No changes recorded",
                    rx.cond(
                        S.filtered,
                        "Nothing matches these filters.",
                        "Role changes, deactivations, keys, budgets and limits appear here.",
                    ),
                    icon="scroll-text",
                ),
            ),
        ),
    )


@rx.page(route=routes.ADMIN_AUDIT, title="Audit log · Practicum", on_load=[guard("ADMIN"), S.load])
def admin_audit() -> rx.Component:
    return page("Audit log", account_tabs(), _filters(), error_callout(S.error), _results())
