"""Admins: budgets (cost caps) and the message and sign-in rate limits."""

import reflex as rx

from ui import routes
from ui.components.feedback import empty_state, error_callout, loading, success_callout
from ui.components.forms import field, form_dialog, text_input
from ui.components.layout import page
from ui.components.tables import data_table, hidden_header
from ui.state.admin_budgets import SCOPES, AdminBudgetsState, BudgetRow
from ui.state.base import guard

S = AdminBudgetsState

RATE_LIMIT_FIELDS = [
    (
        "messagesPerStudent",
        "Messages per student",
        "What one student may send, e.g. 10/minute.",
    ),
    (
        "messagesGlobal",
        "Messages for everyone",
        "What all students together may send, e.g. 1000/hour.",
    ),
    (
        "loginsPerAddress",
        "Sign-ins per network address",
        "Sign-in attempts from one address, e.g. 30/minute.",
    ),
    (
        "loginsPerEmail",
        "Sign-ins per account",
        "Sign-in attempts for one account, e.g. 5/minute: against password guessing.",
    ),
]


def _section_heading(title: str, text: str, action=None) -> rx.Component:
    return rx.flex(
        rx.vstack(
            rx.heading(title, as_="h2", size="5"),
            rx.text(text, color_scheme="gray", size="2"),
            spacing="1",
            flex="1",
            min_width="16rem",
        ),
        *([action] if action is not None else []),
        align="end",
        justify="between",
        wrap="wrap",
        spacing="3",
        width="100%",
    )


# Budgets


def _spent(row: BudgetRow) -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.text(row.spent, weight="medium"),
            rx.text(row.percent_label, color_scheme="gray", size="1"),
            align="baseline",
            spacing="2",
        ),
        rx.match(
            row.level,
            ("over", _bar(row, "red")),
            ("near", _bar(row, "amber")),
            _bar(row, "teal"),
        ),
        spacing="1",
    )


def _bar(row: BudgetRow, colour: str) -> rx.Component:
    return rx.progress(
        value=row.percent, color_scheme=colour, width="8rem", aria_label="Share of the limit spent"
    )


def _applies_to(row: BudgetRow) -> rx.Component:
    return rx.hstack(
        rx.text(row.applies_to, weight="medium"),
        rx.cond(row.kind != "", rx.badge(row.kind, variant="soft", color_scheme="gray")),
        align="center",
        spacing="2",
    )


def _actions(row: BudgetRow) -> rx.Component:
    return rx.hstack(
        rx.icon_button(
            rx.icon("pencil", size=16),
            variant="ghost",
            on_click=S.open_edit(row.id),
            aria_label="Edit " + row.name,
            title="Edit",
        ),
        rx.icon_button(
            rx.icon("trash-2", size=16),
            variant="ghost",
            color_scheme="red",
            on_click=S.ask_delete(row.id),
            aria_label="Delete " + row.name,
            title="Delete",
        ),
        spacing="3",
        justify="end",
    )


def _budget_cells(row: BudgetRow) -> list[rx.Component]:
    return [
        rx.table.row_header_cell(_applies_to(row)),
        rx.table.cell(_spent(row)),
        rx.table.cell(rx.text(row.limit)),
        rx.table.cell(row.period_label),
        rx.table.cell(row.resets_at),
        rx.table.cell(row.alerts),
        rx.table.cell(_actions(row)),
    ]


def _budget_card(row: BudgetRow) -> rx.Component:
    """One budget on a phone, where the table's seven columns do not fit."""
    return rx.card(
        rx.vstack(
            rx.hstack(_applies_to(row), _actions(row), justify="between", width="100%"),
            _spent(row),
            rx.text(
                row.limit,
                " · ",
                row.period_label,
                " · resets ",
                row.resets_at,
                size="2",
                color_scheme="gray",
            ),
            rx.text("Alerts at ", row.alerts, size="2", color_scheme="gray"),
            spacing="2",
            width="100%",
        ),
        width="100%",
        data_testid="budget-card",
    )


def _budget_table() -> rx.Component:
    headers = ["Applies to", "Spent this period", "Limit", "Period", "Resets", "Alerts at"]
    return rx.box(
        data_table(
            [*headers, hidden_header("Actions")],
            S.budgets,
            _budget_cells,
            "Budgets",
            row_props={"align": "center", "white_space": "nowrap"},
            size="2",
            phone_card=_budget_card,
        ),
        overflow_x="auto",
        width="100%",
        tab_index=0,
        role="region",
        aria_label="Budgets",
    )


def _budgets() -> rx.Component:
    add = rx.button(rx.icon("plus", size=16), "Add a budget", on_click=S.open_new)
    return rx.vstack(
        _section_heading(
            "Budgets",
            "Daily and monthly cost caps. A student's message that could pass a cap is not "
            "sent; periods reset at 00:00 UTC.",
            add,
        ),
        success_callout(S.budget_notice),
        error_callout(S.action_error),
        rx.cond(
            S.loading,
            loading("Loading budgets…"),
            rx.cond(
                S.load_error,
                rx.vstack(
                    error_callout(S.load_error),
                    rx.button("Try again", on_click=S.load, variant="soft"),
                    spacing="2",
                    align="start",
                    width="100%",
                ),
                rx.cond(
                    S.budgets.length() > 0,
                    _budget_table(),
                    empty_state(
                        "No budgets yet",
                        "Practice is not capped. Add a daily or monthly budget for everyone, "
                        "a section or a student.",
                        icon="piggy-bank",
                    ),
                ),
            ),
        ),
        spacing="3",
        width="100%",
    )


# The budget form


def _select(name: str, value, on_change, items, placeholder: str, disabled=False, error=""):
    return rx.select.root(
        rx.select.trigger(
            id=name,
            placeholder=placeholder,
            width="100%",
            aria_describedby=f"{name}-hint {name}-error",
            aria_invalid=rx.cond(error, "true", "false"),
        ),
        rx.select.content(items),
        value=value,
        on_change=on_change,
        disabled=disabled,
    )


def _scope_fields() -> rx.Component:
    scopes = [rx.select.item(label, value=value) for value, label in SCOPES.items()]
    sections = rx.foreach(S.sections, lambda s: rx.select.item(s["name"], value=s["id"]))
    students = rx.foreach(S.students, lambda s: rx.select.item(s["label"], value=s["id"]))
    return rx.fragment(
        field(
            "Applies to",
            "budget-scope",
            _select("budget-scope", S.form_scope, S.set_form_scope, scopes, "", disabled=S.editing),
        ),
        rx.cond(
            S.form_scope == "SECTION",
            field(
                "Section",
                "budget-section",
                _select(
                    "budget-section",
                    S.form_section_id,
                    S.set_form_section_id,
                    sections,
                    "Choose a section",
                    disabled=S.editing,
                    error=S.field_errors["sectionId"],
                ),
                error=S.field_errors["sectionId"],
                hint=rx.cond(S.sections.length() > 0, "", "There are no sections yet."),
            ),
        ),
        rx.cond(
            S.form_scope == "STUDENT",
            field(
                "Student",
                "budget-student",
                _select(
                    "budget-student",
                    S.form_student_id,
                    S.set_form_student_id,
                    students,
                    "Choose a student",
                    disabled=S.editing,
                    error=S.field_errors["studentId"],
                ),
                error=S.field_errors["studentId"],
                hint="Students enrolled in a section.",
            ),
        ),
    )


def _period_field() -> rx.Component:
    return rx.vstack(
        rx.text("Period", id="budget-period-label", weight="medium", size="2"),
        rx.radio_group.root(
            rx.hstack(
                rx.text(
                    rx.hstack(rx.radio_group.item(value="DAILY"), "Daily", spacing="2"),
                    as_="label",
                    size="2",
                ),
                rx.text(
                    rx.hstack(rx.radio_group.item(value="MONTHLY"), "Monthly", spacing="2"),
                    as_="label",
                    size="2",
                ),
                spacing="5",
            ),
            value=S.form_period,
            on_change=S.set_form_period,
            disabled=S.editing,
            aria_labelledby="budget-period-label",
        ),
        spacing="2",
        width="100%",
    )


def _budget_dialog() -> rx.Component:
    return form_dialog(
        S.form_title,
        (
            "Spending in the current period counts from the start of the period, "
            "including what was spent before the budget was set."
        ),
        [
            error_callout(S.form_error),
            _scope_fields(),
            _period_field(),
            rx.cond(
                S.replaces,
                rx.callout(S.replaces, icon="info", color_scheme="amber", width="100%"),
            ),
            text_input(
                "Limit (US dollars)",
                "budget-limit",
                S.form_limit,
                S.set_form_limit,
                error=S.field_errors["limitUsd"],
                hint="For example 25 or 0.50.",
                input_mode="decimal",
                auto_complete="off",
            ),
            text_input(
                "Alert at (% of the limit)",
                "budget-alerts",
                S.form_alerts,
                S.set_form_alerts,
                error=S.field_errors["alertPercents"],
                hint="Whole percents separated by commas; empty for no alerts.",
                auto_complete="off",
            ),
        ],
        submit_label="Save budget",
        loading=S.saving,
        on_submit=S.save_budget,
        open=S.form_open,
        on_open_change=S.set_form_open,
        max_width="32rem",
        spacing="4",
    )


def _delete_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Delete this budget?"),
            rx.alert_dialog.description(
                "Practice will no longer be capped by ",
                S.delete_label,
                ". Its cost alerts are deleted with it.",
            ),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Keep it", variant="soft", color_scheme="gray")),
                rx.button(
                    "Delete budget",
                    color_scheme="red",
                    on_click=S.delete_budget,
                    loading=S.deleting,
                ),
                justify="end",
                spacing="3",
                margin_top="1rem",
            ),
            max_width="28rem",
        ),
        open=S.delete_open,
        on_open_change=S.set_delete_open,
    )


# Rate limits


def _rate_limit_input(name: str, label: str, hint: str) -> rx.Component:
    return text_input(
        label,
        name,
        S.limits[name],
        lambda value: S.set_limit(name, value),
        error=S.limits_errors[name],
        hint=hint,
        placeholder="No limit",
        auto_complete="off",
        spell_check=False,
    )


def _rate_limit_form() -> rx.Component:
    return rx.form(
        rx.vstack(
            error_callout(S.limits_error),
            rx.grid(
                *[_rate_limit_input(*spec) for spec in RATE_LIMIT_FIELDS],
                columns=rx.breakpoints(initial="1", sm="2"),
                spacing="4",
                width="100%",
            ),
            success_callout(S.limits_saved),
            rx.flex(
                rx.button("Save limits", type="submit", loading=S.limits_saving),
                rx.text(
                    rx.cond(
                        S.limits_updated,
                        "Last changed " + S.limits_updated + ".",
                        "The server's own settings apply until limits are saved here.",
                    ),
                    size="2",
                    color_scheme="gray",
                ),
                align="center",
                wrap="wrap",
                spacing="3",
            ),
            spacing="4",
            width="100%",
        ),
        on_submit=S.save_limits,
        reset_on_submit=False,
    )


def _rate_limits() -> rx.Component:
    return rx.vstack(
        _section_heading(
            "Rate limits",
            'Write a count per period, like "10/minute", "100 per hour" or "5000/day". Leave '
            "a field empty for no limit. Changes apply at once.",
        ),
        rx.card(
            rx.cond(
                S.limits_loading,
                loading("Loading rate limits…"),
                rx.cond(
                    S.limits_load_error,
                    rx.vstack(
                        error_callout(S.limits_load_error),
                        rx.button("Try again", on_click=S.load, variant="soft"),
                        spacing="2",
                        align="start",
                    ),
                    _rate_limit_form(),
                ),
            ),
            size=rx.breakpoints(initial="2", sm="3"),
            width="100%",
        ),
        spacing="3",
        width="100%",
    )


@rx.page(
    route=routes.ADMIN_BUDGETS,
    title="Budgets & limits · Practicum",
    on_load=[guard("ADMIN"), S.load],
)
def admin_budgets() -> rx.Component:
    return page(
        "Budgets & limits",
        _budgets(),
        rx.divider(margin_y="1rem"),
        _rate_limits(),
        _budget_dialog(),
        _delete_dialog(),
    )
