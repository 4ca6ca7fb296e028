"""`/progress`: a student's level per criterion across their sessions (a chart per criterion,
and the same figures as a table)."""

import reflex as rx

from ui import routes
from ui.components.feedback import empty_state, error_callout, loading
from ui.components.layout import page
from ui.components.tables import cell, data_table, show_as_table
from ui.state.base import guard
from ui.state.progress import ProgressLine, ProgressRow, ProgressState

P = ProgressState


def _chart(line: ProgressLine) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.flex(
                rx.heading(line.name, as_="h2", size="3"),
                rx.text("Latest: ", line.latest, size="2", color_scheme="gray"),
                justify="between",
                align="center",
                width="100%",
                wrap="wrap",
            ),
            rx.box(
                rx.recharts.line_chart(
                    rx.recharts.line(
                        data_key="level",
                        name="Level",
                        stroke="var(--accent-9)",
                        stroke_width=2,
                        type_="monotone",
                        is_animation_active=False,
                    ),
                    rx.recharts.cartesian_grid(stroke_dasharray="3 3", stroke="var(--gray-5)"),
                    rx.recharts.x_axis(data_key="session", tick={"fontSize": 11}),
                    rx.recharts.y_axis(
                        tick={"fontSize": 12}, width=32, allow_decimals=False, domain=[0, line.top]
                    ),
                    rx.recharts.graphing_tooltip(),
                    data=line.points,
                    height=200,
                    width="100%",
                ),
                width="100%",
                role="img",
                aria_label="Level per session for " + line.name,
            ),
            spacing="2",
            width="100%",
        ),
        width="100%",
        data_testid="progress-chart",
    )


def _cells(row: ProgressRow) -> list[rx.Component]:
    return [
        rx.table.row_header_cell(row.criterion),
        cell(row.day),
        rx.table.cell(row.client),
        cell(row.level),
        rx.table.cell(rx.link("Transcript", href=row.href)),
    ]


def _table() -> rx.Component:
    return show_as_table(
        "Show the levels as a table",
        data_table(
            ["Criterion", "Session", "Client", "Level", "Open"],
            P.rows,
            _cells,
            "Level per criterion and session",
            row_props={"data_testid": "progress-row"},
        ),
    )


def _progress() -> rx.Component:
    return rx.vstack(
        rx.grid(
            rx.foreach(P.lines, _chart),
            columns=rx.breakpoints(initial="1", md="2"),
            spacing="4",
            width="100%",
        ),
        _table(),
        spacing="4",
        width="100%",
    )


@rx.page(
    route=routes.PROGRESS,
    title="Progress · Practicum",
    on_load=[guard("STUDENT", "TEACHER", "ADMIN"), P.load_progress],
)
def progress() -> rx.Component:
    return page(
        "Progress",
        rx.text(
            "Levels per criterion across sessions with released feedback, oldest first. "
            "The feedback is advisory.",
            color_scheme="gray",
        ),
        error_callout(P.progress_error),
        rx.cond(
            P.progress_loading,
            loading("Loading progress…"),
            rx.cond(
                P.lines.length() > 0,
                _progress(),
                empty_state(
                    "No feedback yet",
                    "When your teacher releases feedback on a session, your levels appear here.",
                    icon="chart-line",
                    action=rx.link("Practise with a client", href=routes.PRACTICE),
                ),
            ),
        ),
    )
