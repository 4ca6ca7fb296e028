"""`/rubrics` (a teacher's rubrics) and `/rubrics/[rubric_id]` (the editor; "new" for a new
one): criteria with a description, a weight and levels with descriptors."""

import reflex as rx

from ui import routes
from ui.components.feedback import empty_state, error_callout, loading, success_callout
from ui.components.layout import dead_end_page, page
from ui.components.tables import cell, data_table
from ui.state.base import guard
from ui.state.rubrics import (
    NEW,
    CriterionDraft,
    LevelDraft,
    RubricEditorState,
    RubricListState,
    RubricRow,
)

E = RubricEditorState


# The list ----------------------------------------------------------------------------------


def _status(row: RubricRow) -> rx.Component:
    return rx.badge(
        row.status, color_scheme=rx.cond(row.published, "green", "amber"), high_contrast=True
    )


def _cells(row: RubricRow) -> list[rx.Component]:
    return [
        rx.table.row_header_cell(rx.link(row.name, href=row.href, weight="medium")),
        cell(row.criteria),
        rx.table.cell(_status(row)),
        cell(row.version),
        cell(row.updated),
    ]


def _card(row: RubricRow) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.flex(
                rx.link(row.name, href=row.href, weight="bold"),
                _status(row),
                justify="between",
                width="100%",
            ),
            rx.text(row.criteria, " · ", row.version, " · ", row.updated, size="2"),
            spacing="1",
        ),
        width="100%",
    )


def _new_button() -> rx.Component:
    return rx.link(
        rx.button(rx.icon("plus", size=16, aria_hidden="true"), "New rubric"),
        href=routes.rubric_editor(NEW),
    )


@rx.page(
    route=routes.RUBRICS,
    title="Rubrics · Practicum",
    on_load=[guard("TEACHER", "ADMIN"), RubricListState.load_rubrics],
)
def rubrics() -> rx.Component:
    return page(
        "Rubrics",
        rx.text(
            "A rubric says what good practice looks like: criteria, each with a weight and "
            "levels. Attach a published rubric to an assignment and its sessions get "
            "(advisory) feedback when they end.",
            color_scheme="gray",
        ),
        error_callout(RubricListState.list_error),
        rx.cond(
            RubricListState.list_loading,
            loading("Loading your rubrics…"),
            rx.cond(
                RubricListState.rubrics.length() > 0,
                data_table(
                    ["Name", "Criteria", "Status", "Version", "Updated"],
                    RubricListState.rubrics,
                    _cells,
                    "Your rubrics",
                    row_props={"data_testid": "rubric-row"},
                    size="2",
                    phone_card=_card,
                ),
                empty_state(
                    "No rubrics yet",
                    "Write your first rubric, then attach it to an assignment.",
                    icon="list-checks",
                    action=_new_button(),
                ),
            ),
        ),
        actions=_new_button(),
    )


# The editor --------------------------------------------------------------------------------


def _error(text) -> rx.Component:
    return rx.cond(text != "", rx.text(text, size="2", color_scheme="red", role="alert"))


def _labelled(label, control_id, control: rx.Component, error="") -> rx.Component:
    return rx.vstack(
        rx.el.label(label, html_for=control_id, font_weight="500", font_size="0.875rem"),
        control,
        _error(error),
        spacing="1",
        width="100%",
        align="stretch",
    )


def _level(lv: LevelDraft, criterion: CriterionDraft) -> rx.Component:
    here = "c" + lv.criterion.to_string() + "-l" + lv.index.to_string()
    return rx.cond(
        lv.criterion == criterion.index,
        rx.vstack(
            rx.flex(
                rx.input(
                    id=here + "-level",
                    value=lv.level,
                    on_change=lambda v: E.set_level(lv.criterion, lv.index, "level", v),
                    aria_label="Level number",
                    aria_invalid=rx.cond(lv.level_error != "", "true", "false"),
                    width="4rem",
                    input_mode="numeric",
                ),
                rx.input(
                    id=here + "-descriptor",
                    value=lv.descriptor,
                    on_change=lambda v: E.set_level(lv.criterion, lv.index, "descriptor", v),
                    aria_label="What level " + lv.level + " looks like",
                    aria_invalid=rx.cond(lv.descriptor_error != "", "true", "false"),
                    placeholder="What this level looks like",
                    flex_grow="1",
                ),
                rx.icon_button(
                    rx.icon("x", size=14),
                    on_click=E.remove_level(lv.criterion, lv.index),
                    variant="ghost",
                    color_scheme="gray",
                    aria_label="Remove level " + lv.level,
                    type="button",
                ),
                spacing="2",
                align="center",
                width="100%",
            ),
            _error(lv.level_error),
            _error(lv.descriptor_error),
            spacing="1",
            width="100%",
            data_testid="rubric-level",
        ),
    )


def _criterion(c: CriterionDraft) -> rx.Component:
    here = "criterion-" + c.index.to_string()
    return rx.card(
        rx.vstack(
            rx.flex(
                rx.heading("Criterion " + (c.index + 1).to_string(), as_="h3", size="3"),
                rx.button(
                    "Remove criterion",
                    on_click=E.remove_criterion(c.index),
                    variant="ghost",
                    color_scheme="red",
                    size="1",
                    type="button",
                ),
                justify="between",
                width="100%",
            ),
            rx.grid(
                _labelled(
                    "Name",
                    here + "-name",
                    rx.input(
                        id=here + "-name",
                        value=c.name,
                        on_change=lambda v: E.set_criterion(c.index, "name", v),
                        placeholder="e.g. Open questions",
                        aria_invalid=rx.cond(c.name_error != "", "true", "false"),
                    ),
                    c.name_error,
                ),
                _labelled(
                    "Weight",
                    here + "-weight",
                    rx.input(
                        id=here + "-weight",
                        value=c.weight,
                        on_change=lambda v: E.set_criterion(c.index, "weight", v),
                        input_mode="decimal",
                        aria_invalid=rx.cond(c.weight_error != "", "true", "false"),
                    ),
                    c.weight_error,
                ),
                columns=rx.breakpoints(initial="1", sm="3fr 1fr"),
                spacing="3",
                width="100%",
            ),
            _labelled(
                "Description",
                here + "-description",
                rx.text_area(
                    id=here + "-description",
                    value=c.description,
                    on_change=lambda v: E.set_criterion(c.index, "description", v),
                    placeholder="What the student should do",
                    rows="2",
                    aria_invalid=rx.cond(c.description_error != "", "true", "false"),
                    width="100%",
                ),
                c.description_error,
            ),
            rx.text("Levels, lowest first", weight="medium", size="2"),
            rx.foreach(E.levels, lambda lv: _level(lv, c)),
            _error(c.levels_error),
            rx.button(
                rx.icon("plus", size=14),
                "Add a level",
                on_click=E.add_level(c.index),
                variant="soft",
                size="1",
                type="button",
            ),
            spacing="2",
            width="100%",
        ),
        width="100%",
        data_testid="rubric-criterion",
    )


def _editor() -> rx.Component:
    return rx.form(
        rx.vstack(
            success_callout(E.message),
            error_callout(E.form_error),
            _labelled(
                "Name",
                "rubric-name",
                rx.input(
                    id="rubric-name",
                    name="rubric-name",
                    value=E.name,
                    on_change=E.set_name,
                    placeholder="e.g. Counselling skills",
                    aria_invalid=rx.cond(E.name_error != "", "true", "false"),
                ),
                E.name_error,
            ),
            _labelled(
                "Description (optional)",
                "rubric-description",
                rx.text_area(
                    id="rubric-description",
                    name="rubric-description",
                    value=E.description,
                    on_change=E.set_description,
                    rows="2",
                    width="100%",
                ),
                E.description_error,
            ),
            rx.heading("Criteria", as_="h2", size="4"),
            _error(E.criteria_error),
            rx.foreach(E.criteria, _criterion),
            rx.button(
                rx.icon("plus", size=16),
                "Add a criterion",
                on_click=E.add_criterion,
                variant="soft",
                type="button",
            ),
            rx.flex(
                rx.button("Save", type="submit", loading=E.saving),
                rx.cond(
                    ~E.is_new & ~E.published,
                    rx.button(
                        "Publish",
                        on_click=E.publish,
                        type="button",
                        variant="soft",
                        color_scheme="green",
                        loading=E.saving,
                    ),
                ),
                rx.cond(
                    E.published,
                    rx.badge(
                        "Published · version " + E.version.to_string(),
                        color_scheme="green",
                        high_contrast=True,
                    ),
                ),
                spacing="3",
                align="center",
                wrap="wrap",
            ),
            spacing="3",
            width="100%",
        ),
        on_submit=E.save,
        width="100%",
    )


@rx.page(
    route=routes.RUBRIC_EDITOR,
    title="Rubric · Practicum",
    on_load=[guard("TEACHER", "ADMIN"), E.load_editor],
)
def rubric_editor() -> rx.Component:
    return rx.cond(
        E.not_found,
        dead_end_page(
            "Rubric not found",
            "There is no rubric at this address that you can edit.",
            "Go to your rubrics",
            routes.RUBRICS,
        ),
        page(
            rx.cond(E.is_new, "New rubric", E.name),
            rx.link("← Rubrics", href=routes.RUBRICS, size="2"),
            rx.cond(E.editor_loading, loading("Loading the rubric…"), _editor()),
        ),
    )
