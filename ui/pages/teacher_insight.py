"""`/insight` ("Usage"): sessions, tokens, cost and students' ratings for the teacher's
sections over a range of days."""

import reflex as rx

from ui import routes
from ui.components.charts import bar_chart, line_chart, metric_card
from ui.components.feedback import error_callout, loading
from ui.components.forms import field_error, text_input
from ui.components.layout import page
from ui.components.tables import WIDE_ONLY, data_table, figure_cell, show_as_table
from ui.state.base import guard
from ui.state.teacher_insight import DayRow, FeedbackRow, TeacherInsightState, UsageRow

State = TeacherInsightState


def _range_form() -> rx.Component:
    return rx.form(
        rx.flex(
            rx.box(
                text_input(
                    "First day (UTC)",
                    "usage-start",
                    State.start,
                    State.set_start,
                    error=State.start_error,
                    type="date",
                ),
                width=rx.breakpoints(initial="100%", sm="12rem"),
            ),
            rx.box(
                text_input(
                    "Last day (UTC)",
                    "usage-end",
                    State.end,
                    State.set_end,
                    error=State.end_error,
                    type="date",
                ),
                width=rx.breakpoints(initial="100%", sm="12rem"),
            ),
            rx.button(
                "Show usage",
                type="submit",
                loading=State.loading,
                margin_top=rx.breakpoints(initial="0.25rem", sm="1.6rem"),
            ),
            spacing="3",
            wrap="wrap",
            align="start",
        ),
        field_error(State.range_error, "usage-range", margin_top="0.5rem"),
        on_submit=State.show,
        width="100%",
    )


def _cards() -> rx.Component:
    s = State.summary
    return rx.grid(
        metric_card("Sessions started", s["sessions"], icon="play", test_id="usage-sessions"),
        metric_card("Sessions completed", s["completed"], icon="circle-check"),
        metric_card("Messages", s["messages"], icon="messages-square"),
        metric_card("Tokens", s["tokens"], icon="hash", test_id="usage-tokens"),
        metric_card("Cost", s["cost"], "US dollars", icon="dollar-sign", test_id="usage-cost"),
        metric_card("Average cost", s["average"], "per completed session", icon="calculator"),
        metric_card("Median cost", s["median"], "per completed session", icon="chart-column"),
        metric_card("From the prompt cache", s["cache"], "of input tokens", icon="database-zap"),
        columns=rx.breakpoints(initial="2", md="4"),
        spacing="3",
        width="100%",
    )


FIGURES = {"Sessions", "Messages", "Tokens", "Cost", "Ratings", "Average", "Positive"}


def _table(caption: str, headers: list[str], rows, cells, **props) -> rx.Component:
    return data_table(headers, rows, cells, caption, numeric=FIGURES, **props)


def _day_cells(row: DayRow) -> list[rx.Component]:
    return [
        rx.table.row_header_cell(row.day),
        figure_cell(row.sessions),
        figure_cell(row.tokens),
        figure_cell(row.cost),
    ]


def _per_day() -> rx.Component:
    return rx.vstack(
        rx.grid(
            bar_chart("Tokens per day", State.chart, "day", [("tokens", "Tokens")]),
            line_chart("Cost per day (US dollars)", State.chart, "day", [("cost", "Cost")]),
            columns=rx.breakpoints(initial="1", md="2"),
            spacing="3",
            width="100%",
        ),
        show_as_table(
            "Show the days as a table",
            _table(
                "Sessions, tokens and cost per day",
                ["Day", "Sessions", "Tokens", "Cost"],
                State.daily,
                _day_cells,
            ),
        ),
        spacing="2",
        width="100%",
    )


def _usage_cells(row: UsageRow) -> list[rx.Component]:
    return [
        rx.table.row_header_cell(row.label),
        figure_cell(row.sessions),
        figure_cell(row.messages, display=WIDE_ONLY),
        figure_cell(row.tokens),
        figure_cell(row.cost),
    ]


def _usage_by(title: str, first_column: str, rows, empty: str) -> rx.Component:
    return rx.vstack(
        rx.heading(title, size="4", as_="h2"),
        rx.cond(
            rows.length() > 0,
            _table(
                title,
                [first_column, "Sessions", "Messages", "Tokens", "Cost"],
                rows,
                _usage_cells,
                wide_only={"Messages"},
            ),
            rx.text(empty, size="2", color_scheme="gray"),
        ),
        spacing="2",
        width="100%",
    )


def _feedback_cells(row: FeedbackRow) -> list[rx.Component]:
    return [
        rx.table.row_header_cell(row.client),
        figure_cell(row.ratings),
        figure_cell(row.average),
        figure_cell(row.positive),
    ]


def _feedback() -> rx.Component:
    return rx.vstack(
        rx.heading("Students' ratings by client", size="4", as_="h2"),
        rx.text(
            "Ratings students gave when they ended a session; positive means 4 or 5 out of 5.",
            size="2",
            color_scheme="gray",
        ),
        rx.cond(
            State.feedback.length() > 0,
            _table(
                "Students' ratings by client",
                ["Client", "Ratings", "Average", "Positive"],
                State.feedback,
                _feedback_cells,
            ),
            rx.text("No ratings in this period.", size="2", color_scheme="gray"),
        ),
        spacing="2",
        width="100%",
    )


def _figures() -> rx.Component:
    return rx.vstack(
        rx.text(State.period, size="2", color_scheme="gray", data_testid="usage-period"),
        rx.cond(
            State.summary["tokens"] == "0",
            rx.callout(
                "Nothing was used in this period. Choose a longer range, or publish an "
                "assignment so that your students can practise.",
                icon="info",
                width="100%",
            ),
        ),
        _cards(),
        rx.cond(State.summary["tokens"] != "0", _per_day()),
        rx.grid(
            _usage_by(
                "Usage by student",
                "Student",
                State.by_student,
                "No student practised in this period.",
            ),
            _usage_by(
                "Usage by client", "Client", State.by_client, "No client was used in this period."
            ),
            columns=rx.breakpoints(initial="1", lg="2"),
            spacing="5",
            width="100%",
        ),
        _feedback(),
        rx.text(
            "Costs are in US dollars as the model providers charge them, to the cent "
            "(smaller sums to two significant figures). ",
            rx.link("Read the transcripts", href=routes.TEACHER_SESSIONS),
            " to see single sessions.",
            size="2",
            color_scheme="gray",
        ),
        spacing="5",
        width="100%",
    )


@rx.page(
    route=routes.TEACHER_INSIGHT,
    title="Usage · Practicum",
    on_load=[guard("TEACHER", "ADMIN"), TeacherInsightState.open],
)
def teacher_insight() -> rx.Component:
    return page(
        "Usage",
        rx.text(
            "Practice sessions, tokens, cost and feedback in your sections.",
            color_scheme="gray",
        ),
        _range_form(),
        error_callout(State.error),
        rx.cond(
            State.period != "",
            rx.box(_figures(), opacity=rx.cond(State.loading, "0.6", "1"), width="100%"),
            rx.cond(State.loading, loading("Loading usage…")),
        ),
    )
