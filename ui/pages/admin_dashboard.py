"""`/admin`: what is happening now, the last 30 days, who is practising, and cost alerts."""

import reflex as rx

from ui import routes
from ui.components.charts import bar_chart, line_chart, metric_card
from ui.components.feedback import empty_state, error_callout, loading
from ui.components.layout import page
from ui.components.tables import WIDE_ONLY, cell, data_table, figure_cell, show_as_table
from ui.state.admin_dashboard import AdminDashboardState as S
from ui.state.base import guard


def _live_indicator() -> rx.Component:
    return rx.box(
        rx.match(
            S.live,
            (
                "live",
                rx.badge(
                    rx.icon("radio", size=14, aria_hidden="true"),
                    "Live · updated ",
                    S.updated_at,
                    color_scheme="green",
                    high_contrast=True,
                    size="2",
                ),
            ),
            (
                "reconnecting",
                rx.badge(
                    rx.spinner(size="1"),
                    "Reconnecting…",
                    color_scheme="amber",
                    high_contrast=True,
                    size="2",
                ),
            ),
            (
                "stopped",
                rx.badge(
                    rx.icon("circle-pause", size=14, aria_hidden="true"),
                    "Live figures stopped",
                    color_scheme="red",
                    size="2",
                ),
            ),
            rx.badge(rx.spinner(size="1"), "Connecting…", color_scheme="gray", size="2"),
        ),
        # Not a live region: a screen reader would read out the time at every update. The
        # reconnecting callout below is one, so a dropped connection is heard.
        data_testid="live-status",
    )


CARDS = [  # label, value, hint, icon, test id
    ("Active practice sessions", S.active_sessions, "", "users", "active-sessions"),
    ("Replies streaming now", S.streaming_replies, "", "audio-lines", "streaming-replies"),
    ("Messages in the last minute", S.messages_last_minute, "", "message-square", "messages"),
    ("Errors in the last hour", S.errors_last_hour, "", "triangle-alert", "errors"),
    ("Tokens today", S.tokens_today, "Since 00:00 UTC", "coins", "tokens-today"),
    ("Cost today", S.cost_today, "Since 00:00 UTC, in US dollars", "receipt", "cost-today"),
    ("Time to first token, median", S.ttft_p50, "Last 5 minutes", "timer", "ttft-p50"),
    ("Time to first token, p95", S.ttft_p95, "Last 5 minutes", "timer", "ttft-p95"),
]

# On a phone two cards make a row, but the figures that grow long get a row each.
WIDE_ON_PHONES = {"tokens-today", "cost-today"}


def _live_cards() -> rx.Component:
    return rx.grid(
        *[
            rx.box(
                metric_card(label, value, hint, icon, test_id=f"metric-{test_id}"),
                grid_column=rx.breakpoints(initial="span 2", md="auto")
                if test_id in WIDE_ON_PHONES
                else None,
                display="flex",
            )
            for label, value, hint, icon, test_id in CARDS
        ],
        columns=rx.breakpoints(initial="2", md="4"),
        spacing="3",
        width="100%",
        # Should a figure still not fit, it breaks inside its card rather than widen the page.
        overflow_wrap="anywhere",
    )


def _as_of() -> rx.Component:
    """When the charts' figures were read: they follow the live cards within seconds."""
    return rx.hstack(
        rx.icon("history", size=14, color=rx.color("gray", 10), aria_hidden="true"),
        rx.text(
            "Last 30 days, teachers' test conversations included · as of ",
            S.history_at,
            size="1",
            color_scheme="gray",
            data_testid="history-as-of",
        ),
        align="center",
        spacing="1",
    )


def _no_cost_note() -> rx.Component:
    """In place of a cost chart that would only show a flat line at $0: one line."""
    return rx.cond(
        ~S.has_cost,
        rx.text(
            "No cost in the last 30 days, so no cost chart.",
            size="2",
            color_scheme="gray",
            data_testid="no-cost",
        ),
    )


def _charts(tokens: rx.Component, cost: rx.Component) -> rx.Component:
    """The tokens chart, and beside it the cost chart when there was any cost."""
    return rx.grid(
        tokens,
        rx.cond(S.has_cost, cost),
        columns=rx.cond(S.has_cost, rx.breakpoints(initial="1", md="2"), "1"),
        spacing="3",
        width="100%",
    )


def _figures(row, keys: tuple[str, ...], wide_only: tuple[str, ...] = ()) -> list:
    """A row's figure cells; those in `wide_only` are left out on a phone."""
    return [figure_cell(row[k], display=WIDE_ONLY if k in wide_only else None) for k in keys]


def _daily() -> rx.Component:
    table = data_table(
        ["Day", "Sessions", "Messages", "Tokens", "Cost", "Errors"],
        S.daily_rows,
        lambda r: [
            rx.table.row_header_cell(r["day"], white_space="nowrap"),
            *_figures(r, ("sessions", "messages", "tokens", "cost", "errors"), PHONE_LEAVES_OUT),
        ],
        "Usage per day, last 30 days",
        numeric=("Sessions", "Messages", "Tokens", "Cost", "Errors"),
        wide_only=("Sessions", "Errors"),
    )
    charts = rx.vstack(
        _as_of(),
        _charts(
            bar_chart("Tokens per day, last 30 days", S.daily_chart, "day", [("tokens", "Tokens")]),
            line_chart(COST_PER_DAY, S.daily_chart, "day", [("cost", "Cost (USD)")]),
        ),
        _no_cost_note(),
        show_as_table("Show the last 30 days as a table", table),
        spacing="2",
        width="100%",
    )
    return rx.cond(
        S.has_daily_usage,
        charts,
        empty_state(
            "No usage in the last 30 days",
            "Charts of tokens and cost appear here once students practise.",
            icon="chart-column",
        ),
    )


PHONE_LEAVES_OUT = ("sessions", "errors")  # the tables' columns that a phone has no room for
COST_PER_DAY = "Cost per day (US dollars), last 30 days"
COST_PER_MODEL = "Cost per model (US dollars), last 30 days"


def _by_model() -> rx.Component:
    table = data_table(
        ["Model", "Sessions", "Messages", "Tokens", "Cost"],
        S.model_rows,
        lambda r: [
            rx.table.row_header_cell(r["model"], white_space="nowrap"),
            *_figures(r, ("sessions", "messages", "tokens", "cost"), PHONE_LEAVES_OUT),
        ],
        "Usage per model, last 30 days",
        numeric=("Sessions", "Messages", "Tokens", "Cost"),
        wide_only=("Sessions",),
    )
    return rx.cond(
        S.has_model_usage,
        rx.vstack(
            _charts(
                bar_chart(
                    "Tokens per model, last 30 days", S.model_chart, "model", [("tokens", "Tokens")]
                ),
                bar_chart(COST_PER_MODEL, S.model_chart, "model", [("cost", "Cost (USD)")]),
            ),
            show_as_table("Show usage per model as a table", table),
            spacing="2",
            width="100%",
        ),
    )


def _section(title: str, *children) -> rx.Component:
    return rx.vstack(rx.heading(title, as_="h2", size="5"), *children, spacing="3", width="100%")


def _session_card(r) -> rx.Component:
    """One active session on a phone, where the table's seven columns do not fit."""
    return rx.card(
        rx.vstack(
            rx.flex(
                rx.text(r["student"], weight="bold"),
                rx.text("with ", r["client"], color_scheme="gray"),
                spacing="1",
                wrap="wrap",
            ),
            rx.text(
                r["messages"],
                " messages · ",
                r["cost"],
                " · ",
                r["model"],
                size="2",
                color_scheme="gray",
                overflow_wrap="anywhere",
            ),
            rx.text("Started ", r["started"], size="1", color_scheme="gray"),
            rx.link(
                "Transcript",
                href=r["href"],
                aria_label="Transcript of " + r["student"] + " with " + r["client"],
                size="2",
            ),
            spacing="1",
        ),
        width="100%",
        data_testid="active-session-card",
    )


def _active_sessions() -> rx.Component:
    table = data_table(
        ["Student", "Client", "Model", "Started", "Messages", "Cost", ""],
        S.sessions,
        lambda r: [
            rx.table.row_header_cell(r["student"], white_space="nowrap"),
            cell(r["client"]),
            cell(r["model"]),
            cell(r["started"]),
            cell(r["messages"]),
            cell(r["cost"]),
            cell(
                rx.link(
                    "Transcript",
                    href=r["href"],
                    aria_label="Transcript of " + r["student"] + " with " + r["client"],
                )
            ),
        ],
        "Active practice sessions",
        phone_card=_session_card,
    )
    return _section(
        "Active practice sessions",
        rx.cond(
            S.sessions.length() > 0,
            rx.fragment(
                table,
                rx.cond(
                    S.more_sessions,
                    rx.text(
                        "Showing the 50 newest. ",
                        rx.link("See every session", href=routes.TEACHER_SESSIONS),
                        size="2",
                        color_scheme="gray",
                    ),
                ),
            ),
            empty_state(
                "No one is practising right now",
                "Sessions appear here as soon as a student starts one.",
                icon="users",
            ),
        ),
    )


def _alert(alert) -> rx.Component:
    return rx.card(
        rx.hstack(
            rx.icon("bell-ring", size=18, color=rx.color("amber", 10), aria_hidden="true"),
            rx.vstack(
                rx.text(alert["message"], weight="medium"),
                rx.text(alert["spent"], " · ", alert["time"], size="1", color_scheme="gray"),
                spacing="1",
            ),
            rx.spacer(),
            rx.badge(alert["percent"], color_scheme="amber", high_contrast=True),
            align="start",
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def _cost_alerts() -> rx.Component:
    return _section(
        "Recent cost alerts",
        rx.cond(
            S.alerts.length() > 0,
            rx.vstack(rx.foreach(S.alerts, _alert), spacing="2", width="100%"),
            empty_state(
                "No cost alerts",
                "An alert appears here when spending reaches a share of a budget.",
                icon="bell",
                action=rx.link("Budgets and limits", href=routes.ADMIN_BUDGETS),
            ),
        ),
    )


@rx.page(
    route=routes.ADMIN_DASHBOARD,
    title="Dashboard · Practicum",
    on_load=[guard("ADMIN"), S.open],
)
def admin_dashboard() -> rx.Component:
    return page(
        "Dashboard",
        rx.cond(
            S.live == "reconnecting",
            rx.callout(
                S.reconnect_note,
                icon="wifi-off",
                color_scheme="amber",
                role="status",
                width="100%",
            ),
        ),
        rx.cond(
            S.live_error,
            error_callout("Live figures stopped: " + S.live_error + " Reload the page to retry."),
        ),
        _live_cards(),
        error_callout(S.error),
        rx.cond(
            S.loading,
            loading("Loading usage and sessions…"),
            rx.cond(
                S.error,
                rx.button("Try again", on_click=S.load, variant="soft", width="fit-content"),
                rx.fragment(_daily(), _by_model(), _active_sessions(), _cost_alerts()),
            ),
        ),
        actions=_live_indicator(),
    )
