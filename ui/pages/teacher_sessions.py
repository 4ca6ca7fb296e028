"""`/sessions` ("Transcripts"): the practice sessions of the teacher's students, each linking
to its transcript, with tokens and cost."""

import reflex as rx

from ui import routes
from ui.components.feedback import empty_state, error_callout, loading
from ui.components.forms import field
from ui.components.layout import page
from ui.components.tables import cell, data_table, figure_cell
from ui.state.base import guard
from ui.state.teacher_sessions import ALL, SORTS, SessionRow, TeacherSessionsState

COLUMNS = [
    "Student",
    "Client",
    "Assignment",
    "Started",
    "Status",
    "Messages",
    "Length",
    "Tokens",
    "Cost",
    "Rating",
    "Score",
    "Open",
]
NUMERIC = {"Messages", "Length", "Tokens", "Cost", "Score"}


def _select(label: str, name: str, value, on_change, *items: rx.Component) -> rx.Component:
    return rx.box(
        field(
            label,
            name,
            rx.select.root(
                rx.select.trigger(id=name, width="100%"),
                rx.select.content(*items, position="popper"),
                value=value,
                on_change=on_change,
            ),
        ),
        width=rx.breakpoints(initial="100%", sm="14rem"),
    )


def _filters() -> rx.Component:
    return rx.flex(
        _select(
            "Status",
            "filter-status",
            TeacherSessionsState.status,
            TeacherSessionsState.set_status,
            rx.select.item("All sessions", value=ALL),
            rx.select.item("In progress", value="ACTIVE"),
            rx.select.item("Ended", value="COMPLETED"),
        ),
        _select(
            "Client",
            "filter-client",
            TeacherSessionsState.client_id,
            TeacherSessionsState.set_client_id,
            rx.select.item("All clients", value=ALL),
            rx.foreach(TeacherSessionsState.clients, lambda c: rx.select.item(c.name, value=c.id)),
        ),
        _select(
            "Student",
            "filter-student",
            TeacherSessionsState.student_id,
            TeacherSessionsState.set_student_id,
            rx.select.item("All students", value=ALL),
            rx.foreach(TeacherSessionsState.students, lambda c: rx.select.item(c.name, value=c.id)),
        ),
        _select(
            "Assignment",
            "filter-assignment",
            TeacherSessionsState.assignment_id,
            TeacherSessionsState.set_assignment_id,
            rx.select.item("All assignments", value=ALL),
            rx.foreach(
                TeacherSessionsState.assignments, lambda c: rx.select.item(c.name, value=c.id)
            ),
        ),
        _select(
            "Sort by",
            "sort-sessions",
            TeacherSessionsState.sort,
            TeacherSessionsState.set_sort,
            *[rx.select.item(label, value=key) for key, label in SORTS.items()],
        ),
        spacing="3",
        wrap="wrap",
        width="100%",
    )


def _status(row: SessionRow) -> rx.Component:
    return rx.badge(
        row.status, color_scheme=rx.cond(row.active, "blue", "gray"), high_contrast=True
    )


def _transcript_link(row: SessionRow) -> rx.Component:
    return rx.link(
        "Transcript",
        href=row.href,
        aria_label="Transcript of " + row.student + " with " + row.client + ", " + row.started,
        weight="medium",
        white_space="nowrap",
    )


def _score(row: SessionRow) -> rx.Component:
    return rx.flex(
        rx.text(row.score),
        rx.cond(
            row.released,
            rx.tooltip(
                rx.icon("send", size=12, aria_label="Released to the student"),
                content="Released to the student",
            ),
        ),
        spacing="1",
        align="center",
        justify="end",
    )


def _export() -> rx.Component:
    return rx.cond(
        TeacherSessionsState.sections.length() > 0,
        rx.flex(
            rx.select.root(
                rx.select.trigger(aria_label="Section to download"),
                rx.select.content(
                    rx.foreach(
                        TeacherSessionsState.sections,
                        lambda c: rx.select.item(c.name, value=c.id),
                    ),
                    position="popper",
                ),
                value=TeacherSessionsState.export_section,
                on_change=TeacherSessionsState.set_export_section,
            ),
            rx.button(
                rx.icon("download", size=16, aria_hidden="true"),
                "Download CSV",
                on_click=TeacherSessionsState.export_csv,
                loading=TeacherSessionsState.exporting,
                variant="soft",
            ),
            spacing="2",
            align="center",
            wrap="wrap",
        ),
    )


def _watch_link(row: SessionRow) -> rx.Component:
    return rx.cond(
        row.watch_href != "",
        rx.link(
            "Watch live",
            href=row.watch_href,
            aria_label="Watch " + row.student + " with " + row.client + " live",
            weight="medium",
            white_space="nowrap",
            color_scheme="green",
        ),
    )


def _links(row: SessionRow) -> rx.Component:
    return rx.flex(_transcript_link(row), _watch_link(row), spacing="3", wrap="wrap")


def _cells(row: SessionRow) -> list[rx.Component]:
    return [
        rx.table.row_header_cell(row.student),
        rx.table.cell(row.client),
        rx.table.cell(row.assignment),
        cell(row.started),
        rx.table.cell(_status(row)),
        figure_cell(row.messages),
        figure_cell(row.duration, data_testid="session-length"),
        figure_cell(row.tokens, data_testid="session-tokens"),
        figure_cell(row.cost, data_testid="session-cost"),
        rx.table.cell(row.rating),
        figure_cell(_score(row), data_testid="session-score"),
        rx.table.cell(_links(row)),
    ]


def _table() -> rx.Component:
    return data_table(
        COLUMNS,
        TeacherSessionsState.rows,
        _cells,
        "Practice sessions",
        numeric=NUMERIC,
        row_props={"data_testid": "session-row"},
        size="2",
    )


def _figure(label: str, value) -> rx.Component:
    return rx.vstack(
        rx.text(label, size="1", color_scheme="gray"),
        rx.text(value, size="2", weight="medium"),
        spacing="0",
    )


def _card(row: SessionRow) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.flex(
                rx.text(row.student, weight="bold"),
                _status(row),
                justify="between",
                align="center",
                width="100%",
            ),
            rx.text("with " + row.client + " · " + row.started, size="2", color_scheme="gray"),
            rx.grid(
                _figure("Messages", row.messages),
                _figure("Length", row.duration),
                _figure("Tokens", row.tokens),
                _figure("Cost", row.cost),
                _figure("Rating", row.rating),
                _figure("Score", row.score),
                columns="3",
                spacing="2",
                width="100%",
            ),
            _links(row),
            spacing="2",
            width="100%",
        ),
        width="100%",
        data_testid="session-card",
    )


def _sessions() -> rx.Component:
    return rx.fragment(
        rx.box(_table(), display=["none", "none", "block"], width="100%", overflow_x="auto"),
        rx.vstack(
            rx.foreach(TeacherSessionsState.rows, _card),
            display=["flex", "flex", "none"],
            spacing="3",
            width="100%",
        ),
        rx.cond(
            TeacherSessionsState.has_more,
            rx.button(
                "Load more",
                on_click=TeacherSessionsState.load_more,
                loading=TeacherSessionsState.loading_more,
                variant="soft",
                align_self="center",
            ),
        ),
    )


def _empty() -> rx.Component:
    return rx.cond(
        TeacherSessionsState.filtered,
        empty_state(
            "No sessions match",
            "Try other filters, or show all sessions again.",
            icon="search-x",
            action=rx.button(
                "Clear the filters", on_click=TeacherSessionsState.clear_filters, variant="soft"
            ),
        ),
        empty_state(
            "No practice sessions yet",
            "When your students practise with your clients, their sessions appear here.",
            icon="messages-square",
            action=rx.link("Check your assignments are published", href=routes.ASSIGNMENTS),
        ),
    )


@rx.page(
    route=routes.TEACHER_SESSIONS,
    title="Transcripts · Practicum",
    on_load=[guard("TEACHER", "ADMIN"), TeacherSessionsState.load],
)
def teacher_sessions() -> rx.Component:
    return page(
        "Transcripts",
        rx.text(
            "Your sections' practice sessions: filter and sort them, open a transcript to "
            "review its feedback, or watch a session in progress.",
            color_scheme="gray",
        ),
        _export(),
        _filters(),
        error_callout(TeacherSessionsState.error),
        error_callout(TeacherSessionsState.export_error),
        rx.cond(
            TeacherSessionsState.loading,
            loading("Loading sessions…"),
            rx.cond(TeacherSessionsState.rows.length() > 0, _sessions(), _empty()),
        ),
    )
