"""`/sections`: the teacher's sections, each with its join code, students and assignments."""

import reflex as rx

from ui import routes
from ui.components.feedback import empty_state, error_callout, loading, success_callout
from ui.components.forms import text_area, text_input
from ui.components.layout import page
from ui.state.base import guard
from ui.state.sections import (
    RosterResult,
    SectionAssignment,
    SectionRow,
    SectionsState,
    Student,
)

ROSTER_UPLOAD = "roster-upload"
ROSTER_BADGES = {"CREATED": "green", "ENROLLED": "blue", "ALREADY_ENROLLED": "gray"}


def _new_section_form() -> rx.Component:
    return rx.card(
        rx.form(
            rx.vstack(
                rx.heading("New section", size="4", as_="h2"),
                rx.flex(
                    rx.box(
                        text_input(
                            "Section name",
                            "section-name",
                            SectionsState.new_name,
                            SectionsState.set_new_name,
                            error=SectionsState.name_error,
                            hint="Students see this name after they join.",
                            max_length=200,
                        ),
                        flex="1",
                        width="100%",
                    ),
                    rx.button(
                        rx.icon("plus", size=16, aria_hidden="true"),
                        "Create section",
                        type="submit",
                        loading=SectionsState.creating,
                        size="2",
                        margin_top=["0", "0", "1.6rem"],
                    ),
                    direction=rx.breakpoints(initial="column", md="row"),
                    align=rx.breakpoints(initial="stretch", md="start"),
                    spacing="3",
                    width="100%",
                ),
                error_callout(SectionsState.create_error),
                spacing="3",
                width="100%",
            ),
            on_submit=SectionsState.create,
            width="100%",
        ),
        width="100%",
    )


def _join_code(section: SectionRow) -> rx.Component:
    copied = SectionsState.copied_id == section.id
    return rx.flex(
        rx.vstack(
            rx.text("Join code", size="1", color_scheme="gray", weight="medium"),
            rx.code(
                section.join_code,
                size="6",
                variant="ghost",
                weight="bold",
                style={"letter_spacing": "0.12em"},
                data_testid="join-code",
            ),
            spacing="0",
        ),
        rx.button(
            rx.cond(
                copied,
                rx.icon("check", size=16, aria_hidden="true"),
                rx.icon("copy", size=16, aria_hidden="true"),
            ),
            rx.cond(copied, "Copied", "Copy"),
            on_click=SectionsState.copy_code(section.id, section.join_code),
            variant="soft",
            size="2",
            aria_label=rx.cond(copied, "Join code copied", "Copy the join code of " + section.name),
        ),
        align="center",
        spacing="4",
        padding="0.75rem 1rem",
        border_radius="var(--radius-3)",
        background_color=rx.color("accent", 2),
        border=f"1px solid {rx.color('accent', 6)}",
        wrap="wrap",
    )


def _student(student: Student) -> rx.Component:
    return rx.el.li(
        rx.text(student.name, weight="medium", size="2"),
        rx.text(student.email, size="2", color_scheme="gray", style={"word_break": "break-all"}),
        padding_y="0.4rem",
        border_bottom=f"1px solid {rx.color('gray', 4)}",
    )


def _assignment(assignment: SectionAssignment) -> rx.Component:
    return rx.el.li(
        rx.hstack(
            rx.text(assignment.title, weight="medium", size="2"),
            rx.cond(
                assignment.published,
                rx.badge("Published", color_scheme="green", high_contrast=True),
                rx.badge("Draft", color_scheme="gray"),
            ),
            align="center",
            wrap="wrap",
            spacing="2",
        ),
        rx.cond(
            assignment.due != "",
            rx.text("Due " + assignment.due, size="1", color_scheme="gray"),
        ),
        padding_y="0.4rem",
        border_bottom=f"1px solid {rx.color('gray', 4)}",
    )


def _list_or_empty(items, render, empty: str) -> rx.Component:
    return rx.cond(
        items.length() > 0,
        rx.el.ul(
            rx.foreach(items, render),
            style={"list_style": "none", "padding": "0", "margin": "0", "width": "100%"},
        ),
        rx.text(empty, size="2", color_scheme="gray"),
    )


def _sign_up_switch(section: SectionRow) -> rx.Component:
    return rx.el.label(
        rx.hstack(
            rx.switch(
                checked=section.sign_up_open,
                on_change=lambda checked: SectionsState.set_sign_up(section.id, checked),
                aria_label="New students can sign up with the join code of " + section.name,
            ),
            rx.text(
                rx.cond(
                    section.sign_up_open,
                    "New students can sign up with the code",
                    "Sign-up closed: the code only enrols existing accounts",
                ),
                size="2",
            ),
            align="center",
            spacing="2",
        ),
    )


def _roster_row(row: RosterResult) -> rx.Component:
    copied = SectionsState.copied_link == row.invite_url
    return rx.el.li(
        rx.flex(
            rx.vstack(
                rx.hstack(
                    rx.match(
                        row.status,
                        *[
                            (status, rx.badge(row.label, color_scheme=color, high_contrast=True))
                            for status, color in ROSTER_BADGES.items()
                        ],
                        rx.badge(row.label, color_scheme="red", high_contrast=True),
                    ),
                    rx.text(row.name, weight="medium", size="2"),
                    rx.text(
                        row.email, size="2", color_scheme="gray", style={"word_break": "break-all"}
                    ),
                    align="center",
                    wrap="wrap",
                    spacing="2",
                ),
                rx.cond(
                    row.message != "",
                    rx.text("Line ", row.line, ": ", row.message, size="1", color_scheme="red"),
                ),
                rx.cond(
                    row.invite_url != "",
                    rx.code(
                        row.invite_url,
                        size="1",
                        style={"word_break": "break-all"},
                        data_testid="invite-link",
                    ),
                ),
                spacing="1",
                flex="1",
                min_width="0",
            ),
            rx.cond(
                row.invite_url != "",
                rx.button(
                    rx.cond(copied, "Copied", "Copy link"),
                    on_click=SectionsState.copy_link(row.invite_url),
                    variant="soft",
                    size="1",
                    aria_label=rx.cond(
                        copied, "Invite link copied", "Copy the invite link for " + row.email
                    ),
                ),
            ),
            direction=rx.breakpoints(initial="column", sm="row"),
            align=rx.breakpoints(initial="start", sm="center"),
            spacing="2",
            width="100%",
        ),
        padding_y="0.5rem",
        border_bottom=f"1px solid {rx.color('gray', 4)}",
        data_testid="roster-row",
    )


def _roster(section: SectionRow) -> rx.Component:
    return rx.vstack(
        rx.heading("Add students from a class list", size="3", as_="h3"),
        rx.form(
            rx.vstack(
                text_area(
                    "Class list (CSV)",
                    "roster",
                    SectionsState.roster_text,
                    SectionsState.set_roster_text,
                    hint="One student a line: email, name. New students get an invite link to "
                    "set their password; students with an account are enrolled.",
                    rows="5",
                    placeholder="ada@school.edu, Ada Lovelace",
                ),
                rx.flex(
                    rx.upload.root(
                        rx.button(
                            rx.icon("upload", size=16, aria_hidden="true"),
                            "Upload a CSV file",
                            type="button",
                            variant="soft",
                            size="2",
                        ),
                        id=ROSTER_UPLOAD,
                        accept={"text/csv": [".csv"], "text/plain": [".txt"]},
                        max_files=1,
                        multiple=False,
                        no_drag=True,
                        on_drop=SectionsState.read_roster_file(
                            rx.upload_files(upload_id=ROSTER_UPLOAD)
                        ),
                    ),
                    rx.button(
                        rx.icon("user-plus", size=16, aria_hidden="true"),
                        "Import class list",
                        type="submit",
                        loading=SectionsState.importing,
                        size="2",
                    ),
                    spacing="3",
                    wrap="wrap",
                ),
                error_callout(SectionsState.roster_error),
                spacing="3",
                width="100%",
            ),
            on_submit=SectionsState.import_roster,
            width="100%",
        ),
        success_callout(SectionsState.roster_summary),
        rx.cond(
            SectionsState.roster_rows.length() > 0,
            rx.el.ul(
                rx.foreach(SectionsState.roster_rows, _roster_row),
                style={"list_style": "none", "padding": "0", "margin": "0", "width": "100%"},
                aria_label="What the import did, line by line",
            ),
        ),
        spacing="3",
        width="100%",
        padding_top="0.5rem",
        border_top=f"1px solid {rx.color('gray', 4)}",
    )


def _details(section: SectionRow) -> rx.Component:
    return rx.vstack(
        _details_grid(section),
        _roster(section),
        spacing="4",
        width="100%",
        id="section-" + section.id,
    )


def _details_grid(section: SectionRow) -> rx.Component:
    return rx.grid(
        rx.vstack(
            rx.heading("Students", size="3", as_="h3"),
            _list_or_empty(
                section.students,
                _student,
                "No students yet. Share the join code with your students so they can join.",
            ),
            spacing="2",
            width="100%",
        ),
        rx.vstack(
            rx.heading("Assignments", size="3", as_="h3"),
            _list_or_empty(section.assignments, _assignment, "No assignments yet."),
            rx.link("Create or publish assignments", href=routes.ASSIGNMENTS, size="2"),
            spacing="2",
            width="100%",
        ),
        columns=rx.breakpoints(initial="1", md="2"),
        spacing="5",
        width="100%",
    )


def _section(section: SectionRow) -> rx.Component:
    is_open = SectionsState.open_id == section.id
    return rx.card(
        rx.vstack(
            rx.flex(
                rx.vstack(
                    rx.heading(section.name, size="5", as_="h2"),
                    rx.text(
                        section.students_label + " · " + section.assignments_label,
                        # Admins see every teacher's sections.
                        rx.cond(SectionsState.user_role == "ADMIN", " · " + section.teacher, ""),
                        size="2",
                        color_scheme="gray",
                    ),
                    spacing="1",
                ),
                rx.spacer(),
                rx.vstack(_join_code(section), _sign_up_switch(section), spacing="2"),
                direction=rx.breakpoints(initial="column", sm="row"),
                align=rx.breakpoints(initial="start", sm="center"),
                spacing="3",
                width="100%",
            ),
            rx.button(
                rx.cond(
                    is_open,
                    rx.icon("chevron-up", size=16, aria_hidden="true"),
                    rx.icon("chevron-down", size=16, aria_hidden="true"),
                ),
                rx.cond(is_open, "Hide students and assignments", "Show students and assignments"),
                on_click=SectionsState.toggle(section.id),
                variant="ghost",
                size="2",
                aria_expanded=rx.cond(is_open, "true", "false"),
                aria_controls="section-" + section.id,
                margin_left="0.25rem",
            ),
            rx.cond(is_open, _details(section)),
            spacing="3",
            width="100%",
        ),
        width="100%",
        data_testid="section-card",
    )


def _sections() -> rx.Component:
    return rx.cond(
        SectionsState.loading,
        loading("Loading your sections…"),
        rx.cond(
            SectionsState.sections.length() > 0,
            rx.vstack(rx.foreach(SectionsState.sections, _section), spacing="3", width="100%"),
            empty_state(
                "No sections yet",
                "Create a section above; students join it with its join code.",
                icon="users",
            ),
        ),
    )


@rx.page(
    route=routes.SECTIONS,
    title="Sections · Practicum",
    on_load=[guard("TEACHER", "ADMIN"), SectionsState.open],
)
def sections() -> rx.Component:
    return page(
        "Sections",
        rx.text(
            "A section is a class of students. Share its join code so students can join, then "
            "give them assignments.",
            color_scheme="gray",
        ),
        _new_section_form(),
        success_callout(SectionsState.created),
        error_callout(SectionsState.error),
        _sections(),
    )
