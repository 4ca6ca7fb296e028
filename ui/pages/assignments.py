"""`/assignments`: assignments by section; create a draft, then publish it to the students."""

import reflex as rx

from ui import routes
from ui.components.feedback import empty_state, error_callout, loading, success_callout
from ui.components.forms import field, field_error, text_area, text_input
from ui.components.layout import page
from ui.state.assignments import (
    NO_RUBRIC,
    AssignmentRow,
    AssignmentsState,
    ClientChoice,
    SectionGroup,
)
from ui.state.base import guard

PUBLISH_HINT = "Publishing makes it visible to the section's students."


def _section_select() -> rx.Component:
    return field(
        "Section",
        "assignment-section",
        rx.select.root(
            rx.select.trigger(
                placeholder="Choose a section",
                id="assignment-section",
                width="100%",
                aria_invalid=rx.cond(AssignmentsState.section_error, "true", "false"),
                aria_describedby="assignment-section-error",
            ),
            rx.select.content(
                rx.foreach(
                    AssignmentsState.sections,
                    lambda s: rx.select.item(s.name, value=s.id),
                ),
                position="popper",
            ),
            value=AssignmentsState.section_id,
            on_change=AssignmentsState.set_section_id,
        ),
        error=AssignmentsState.section_error,
        required=True,
    )


def _due() -> rx.Component:
    return rx.vstack(
        rx.grid(
            text_input(
                "Due date (UTC)",
                "assignment-due-date",
                AssignmentsState.due_day,
                AssignmentsState.set_due_day,
                type="date",
            ),
            text_input(
                "Due time (UTC)",
                "assignment-due-time",
                AssignmentsState.due_time,
                AssignmentsState.set_due_time,
                type="time",
            ),
            columns="2",
            spacing="3",
            width="100%",
        ),
        rx.text(
            "Optional. Times are in UTC; without a time it is due at 23:59 UTC.",
            size="1",
            color_scheme="gray",
        ),
        field_error(AssignmentsState.due_error),
        spacing="1",
        width="100%",
    )


def _client_checkbox(client: ClientChoice) -> rx.Component:
    return rx.checkbox(
        client.name + " (difficulty " + client.difficulty + ")",
        checked=AssignmentsState.chosen.contains(client.id),
        on_change=lambda checked: AssignmentsState.toggle_client(client.id, checked),
        size="2",
    )


def _clients() -> rx.Component:
    return rx.el.fieldset(
        rx.el.legend(
            "Clients",
            rx.text(" *", as_="span", color_scheme="red", aria_hidden="true"),
            style={"font_weight": "500", "font_size": "var(--font-size-2)", "padding": "0"},
        ),
        rx.text(
            "The clients the students practise with for this assignment.",
            size="1",
            color_scheme="gray",
        ),
        rx.cond(
            AssignmentsState.clients.length() > 0,
            rx.vstack(
                rx.foreach(AssignmentsState.clients, _client_checkbox),
                spacing="2",
                padding_y="0.5rem",
            ),
            rx.text(
                "You have no client profiles yet. ",
                rx.link("Create one on the Clients page", href=routes.PROFILES),
                ".",
                size="2",
            ),
        ),
        field_error(AssignmentsState.clients_error),
        aria_invalid=rx.cond(AssignmentsState.clients_error, "true", "false"),
        style={"border": "none", "padding": "0", "margin": "0", "min_width": "0"},
    )


def _form() -> rx.Component:
    return rx.card(
        rx.form(
            rx.vstack(
                rx.heading("New assignment", size="4", as_="h2"),
                error_callout(AssignmentsState.form_error),
                _section_select(),
                text_input(
                    "Title",
                    "assignment-title",
                    AssignmentsState.title,
                    AssignmentsState.set_title,
                    error=AssignmentsState.title_error,
                    required=True,
                ),
                text_area(
                    "Instructions",
                    "assignment-instructions",
                    AssignmentsState.instructions,
                    AssignmentsState.set_instructions,
                    error=AssignmentsState.instructions_error,
                    hint="What students should practise, shown to them with the clients.",
                ),
                _due(),
                _clients(),
                rx.text("It is saved as a draft. " + PUBLISH_HINT, size="2", color_scheme="gray"),
                rx.hstack(
                    rx.button(
                        "Create draft",
                        type="submit",
                        loading=AssignmentsState.saving,
                        size="2",
                    ),
                    rx.button(
                        "Cancel",
                        type="button",
                        variant="soft",
                        color_scheme="gray",
                        on_click=AssignmentsState.close_form,
                    ),
                    spacing="3",
                ),
                spacing="4",
                width="100%",
            ),
            on_submit=AssignmentsState.create,
            no_validate=True,  # the API's messages, by the field, not the browser's
            width="100%",
        ),
        width="100%",
        max_width="48rem",
    )


def _client_badge(client: ClientChoice) -> rx.Component:
    return rx.badge(
        client.name + " (" + client.difficulty + ")", variant="surface", color_scheme="gray"
    )


def _assignment(assignment: AssignmentRow, section: SectionGroup) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.flex(
                rx.heading(assignment.title, size="3", as_="h3"),
                rx.cond(
                    assignment.published,
                    rx.badge("Published", color_scheme="green", high_contrast=True, size="2"),
                    rx.badge("Draft", color_scheme="amber", high_contrast=True, size="2"),
                ),
                align="center",
                spacing="2",
                wrap="wrap",
            ),
            rx.text(
                rx.cond(assignment.due != "", "Due " + assignment.due, "No due date"),
                rx.cond(assignment.published, " · Published " + assignment.published_at, ""),
                size="2",
                color_scheme="gray",
            ),
            rx.cond(
                assignment.instructions != "",
                rx.text(assignment.instructions, size="2", white_space="pre-wrap"),
            ),
            rx.flex(
                rx.text("Clients:", size="2", weight="medium"),
                rx.foreach(assignment.clients, _client_badge),
                spacing="2",
                wrap="wrap",
                align="center",
            ),
            _feedback_settings(assignment),
            rx.cond(
                ~assignment.published,
                rx.flex(
                    rx.button(
                        rx.icon("send", size=16, aria_hidden="true"),
                        "Publish",
                        on_click=AssignmentsState.ask_publish(
                            assignment.id, assignment.title, section.name
                        ),
                        size="2",
                        aria_label="Publish " + assignment.title,
                    ),
                    rx.text(PUBLISH_HINT, size="1", color_scheme="gray"),
                    spacing="3",
                    align="center",
                    wrap="wrap",
                ),
            ),
            spacing="2",
            width="100%",
        ),
        width="100%",
        data_testid="assignment-card",
    )


def _feedback_settings(assignment: AssignmentRow) -> rx.Component:
    """The rubric its sessions are evaluated against, and whether feedback waits for the
    teacher to release it."""
    return rx.flex(
        rx.flex(
            rx.el.label(
                "Rubric",
                html_for="rubric-" + assignment.id,
                font_size="0.875rem",
                font_weight="500",
            ),
            rx.select.root(
                rx.select.trigger(
                    id="rubric-" + assignment.id,
                    aria_label="Rubric for " + assignment.title,
                    min_width="12rem",
                ),
                rx.select.content(
                    rx.select.item("No rubric (no feedback)", value=NO_RUBRIC),
                    rx.foreach(
                        AssignmentsState.rubrics, lambda r: rx.select.item(r.name, value=r.id)
                    ),
                    position="popper",
                ),
                value=assignment.rubric_id,
                on_change=lambda value: AssignmentsState.set_rubric(assignment.id, value),
            ),
            spacing="2",
            align="center",
            wrap="wrap",
        ),
        rx.el.label(
            rx.flex(
                rx.switch(
                    checked=assignment.release_on_completion,
                    on_change=lambda on: AssignmentsState.set_release(assignment.id, on),
                    aria_label="Release feedback to students when it is ready, for "
                    + assignment.title,
                ),
                rx.text("Release feedback to students when it is ready", size="2"),
                spacing="2",
                align="center",
            ),
        ),
        spacing="4",
        align="center",
        wrap="wrap",
        data_testid="assignment-feedback",
    )


def _group(group: SectionGroup) -> rx.Component:
    return rx.vstack(
        rx.heading(group.name, size="5", as_="h2"),
        rx.cond(
            group.assignments.length() > 0,
            rx.vstack(
                rx.foreach(group.assignments, lambda a: _assignment(a, group)),
                spacing="3",
                width="100%",
            ),
            rx.text("No assignments in this section yet.", size="2", color_scheme="gray"),
        ),
        spacing="3",
        width="100%",
        padding_top="0.5rem",
    )


def _publish_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Publish “" + AssignmentsState.confirm_title + "”?"),
            rx.alert_dialog.description(
                "The students of "
                + AssignmentsState.confirm_section
                + " will see it and can practise with its clients. A published assignment "
                "cannot be made a draft again."
            ),
            error_callout(AssignmentsState.publish_error, margin_top="1rem"),
            rx.flex(
                rx.alert_dialog.cancel(
                    rx.button(
                        "Cancel",
                        variant="soft",
                        color_scheme="gray",
                        on_click=AssignmentsState.cancel_publish,
                    )
                ),
                rx.button(
                    "Publish",
                    on_click=AssignmentsState.publish,
                    loading=AssignmentsState.publishing,
                ),
                spacing="3",
                justify="end",
                margin_top="1rem",
            ),
            max_width="28rem",
        ),
        open=AssignmentsState.confirm_id != "",
        on_open_change=AssignmentsState.confirm_open_change,
    )


def _list() -> rx.Component:
    return rx.cond(
        AssignmentsState.loading,
        loading("Loading your assignments…"),
        rx.cond(
            AssignmentsState.groups.length() > 0,
            rx.vstack(rx.foreach(AssignmentsState.groups, _group), spacing="4", width="100%"),
            empty_state(
                "No sections yet",
                "Assignments belong to a section. Create a section first.",
                icon="users",
                action=rx.link(rx.button("Go to Sections"), href=routes.SECTIONS),
            ),
        ),
    )


def _new_button() -> rx.Component:
    return rx.cond(
        ~AssignmentsState.form_open & (AssignmentsState.sections.length() > 0),
        rx.button(
            rx.icon("plus", size=16, aria_hidden="true"),
            "New assignment",
            on_click=AssignmentsState.open_form,
        ),
    )


@rx.page(
    route=routes.ASSIGNMENTS,
    title="Assignments · Practicum",
    on_load=[guard("TEACHER", "ADMIN"), AssignmentsState.open],
)
def assignments() -> rx.Component:
    return page(
        "Assignments",
        rx.text(
            "An assignment gives a section's students clients to practise with. "
            "Students see an assignment once it is published.",
            color_scheme="gray",
        ),
        success_callout(AssignmentsState.message),
        error_callout(AssignmentsState.error),
        error_callout(AssignmentsState.feedback_error),
        rx.cond(AssignmentsState.form_open, _form()),
        _list(),
        _publish_dialog(),
        actions=_new_button(),
    )
