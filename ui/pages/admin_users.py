"""`/admin/users`: people's accounts. Search, filters, create, role, deactivate,
reactivate and erase (each confirmed)."""

import reflex as rx

from ui import routes
from ui.components.feedback import empty_state, error_callout, loading, success_callout
from ui.components.forms import form_dialog, select_field, text_input
from ui.components.layout import account_tabs, page
from ui.components.tables import cell, data_table, hidden_header
from ui.state.admin_users import ALL, ROLES, STATUSES
from ui.state.admin_users import AdminUsersState as S
from ui.state.base import guard


def _role_items(with_all: bool) -> list:
    items = [rx.select.item(label, value=value) for value, label in ROLES.items()]
    return [rx.select.item("Every role", value=ALL), *items] if with_all else items


def _filters() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.form(
                rx.flex(
                    rx.box(
                        text_input(
                            "Search",
                            "text",
                            S.text,
                            S.set_text,
                            placeholder="Part of a name or an email",
                            type="search",
                            auto_complete="off",
                        ),
                        flex_grow="1",
                        min_width="12rem",
                    ),
                    rx.button("Search", type="submit", loading=S.loading),
                    align="end",
                    spacing="3",
                    width="100%",
                ),
                on_submit=S.search,
                aria_label="Search people",
                width="100%",
            ),
            rx.grid(
                select_field("Role", "role", S.role, S.set_role_filter, _role_items(True)),
                select_field(
                    "Status",
                    "status",
                    S.status,
                    S.set_status_filter,
                    [rx.select.item(label, value=value) for value, label in STATUSES],
                ),
                select_field(
                    "Section",
                    "section",
                    S.section_id,
                    S.set_section_filter,
                    [
                        rx.select.item("Every section", value=ALL),
                        rx.foreach(S.sections, lambda s: rx.select.item(s["name"], value=s["id"])),
                    ],
                ),
                columns=rx.breakpoints(initial="1", sm="3"),
                spacing="3",
                width="100%",
            ),
            rx.button(
                "Clear filters",
                variant="soft",
                color_scheme="gray",
                on_click=S.clear,
                disabled=~S.filtered,
                width="fit-content",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def _status_badge(user) -> rx.Component:
    return rx.match(
        user["status"],
        ("Active", rx.badge("Active", color_scheme="green", high_contrast=True)),
        ("Erased", rx.badge("Erased", color_scheme="gray", high_contrast=True)),
        rx.badge("Deactivated", color_scheme="red", high_contrast=True),
    )


def _actions(user) -> rx.Component:
    label = " for " + user["name"]
    return rx.flex(
        rx.cond(
            user["can_change"] == "yes",
            rx.fragment(
                rx.button(
                    "Change role",
                    size="1",
                    variant="soft",
                    on_click=S.ask("role", user["id"], user["name"], user["role"]),
                    aria_label="Change role" + label,
                ),
                rx.cond(
                    user["status"] == "Active",
                    rx.button(
                        "Deactivate",
                        size="1",
                        variant="soft",
                        color_scheme="red",
                        on_click=S.ask("deactivate", user["id"], user["name"], user["role"]),
                        aria_label="Deactivate" + label,
                    ),
                    rx.button(
                        "Reactivate",
                        size="1",
                        variant="soft",
                        color_scheme="green",
                        on_click=S.ask("reactivate", user["id"], user["name"], user["role"]),
                        aria_label="Reactivate" + label,
                    ),
                ),
            ),
        ),
        rx.cond(
            user["status"] == "Active",
            rx.button(
                "Reset link",
                size="1",
                variant="soft",
                color_scheme="gray",
                on_click=S.ask("reset", user["id"], user["name"], user["role"]),
                aria_label="Password-reset link" + label,
            ),
        ),
        rx.cond(
            user["can_erase"] == "yes",
            rx.button(
                "Erase",
                size="1",
                variant="outline",
                color_scheme="red",
                on_click=S.ask("erase", user["id"], user["name"], user["role"]),
                aria_label="Erase" + label,
            ),
        ),
        spacing="2",
        wrap="wrap",
    )


def _name(user) -> rx.Component:
    return rx.hstack(
        rx.text(user["name"], weight="medium"),
        rx.cond(user["is_me"] == "yes", rx.badge("You", variant="outline")),
        spacing="2",
        align="center",
    )


def _cells(user) -> list[rx.Component]:
    return [
        rx.table.row_header_cell(_name(user), white_space="nowrap"),
        cell(user["email"]),
        cell(user["role_label"]),
        cell(_status_badge(user)),
        cell(user["since"]),
        rx.table.cell(_actions(user)),
    ]


def _card(user) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.flex(_name(user), _status_badge(user), spacing="2", wrap="wrap", align="center"),
            rx.text(user["email"], size="2", color_scheme="gray", overflow_wrap="anywhere"),
            rx.text(user["role_label"], " · since ", user["since"], size="2"),
            _actions(user),
            spacing="2",
            min_width="0",
        ),
        width="100%",
        data_testid="user-card",
    )


HEADERS = ["Name", "Email", "Role", "Status", "Since", hidden_header("Actions")]


def _list() -> rx.Component:
    return rx.vstack(
        data_table(HEADERS, S.users, _cells, "People with an account", phone_card=_card),
        rx.cond(
            S.has_more,
            rx.button("Load more", on_click=S.load_more, loading=S.loading_more, variant="soft"),
        ),
        spacing="3",
        width="100%",
        align="start",
    )


def _results() -> rx.Component:
    return rx.cond(
        S.loading,
        loading("Loading people…"),
        rx.cond(
            S.users.length() > 0,
            _list(),
            rx.cond(
                S.error == "",
                empty_state(
                    "Nobody matches",
                    "Try part of a name or email, or clear the filters.",
                    icon="users",
                ),
            ),
        ),
    )


def _reset_link() -> rx.Component:
    return rx.cond(
        S.reset_note != "",
        rx.callout.root(
            rx.callout.icon(rx.icon("link")),
            rx.vstack(
                rx.text(S.reset_note, weight="medium"),
                rx.cond(
                    S.reset_url != "",
                    rx.code(
                        S.reset_url,
                        id="reset-link",
                        size="2",
                        overflow_wrap="anywhere",
                        word_break="break-all",
                    ),
                ),
                rx.hstack(
                    rx.cond(
                        S.reset_url != "",
                        rx.button(
                            rx.icon("copy", aria_hidden="true"),
                            "Copy link",
                            on_click=S.copy_reset_link,
                        ),
                    ),
                    rx.button(
                        "Done", variant="soft", color_scheme="gray", on_click=S.forget_reset_link
                    ),
                    spacing="3",
                    wrap="wrap",
                ),
                spacing="2",
                width="100%",
                min_width="0",
            ),
            color_scheme="blue",
            role="status",
            width="100%",
        ),
    )


def _create_dialog() -> rx.Component:
    return form_dialog(
        "New account",
        (
            "Leave the password empty to let the person choose their own through a "
            "password-reset link."
        ),
        [
            error_callout(S.create_error),
            text_input(
                "Name",
                "new_name",
                S.new_name,
                S.set_new_name,
                error=S.create_errors["name"],
                auto_complete="off",
            ),
            text_input(
                "Email",
                "new_email",
                S.new_email,
                S.set_new_email,
                error=S.create_errors["email"],
                type="email",
                auto_complete="off",
            ),
            select_field("Role", "new_role", S.new_role, S.set_new_role, _role_items(False)),
            text_input(
                "Password (optional)",
                "new_password",
                S.new_password,
                S.set_new_password,
                error=S.create_errors["password"],
                type="password",
                auto_complete="new-password",
            ),
        ],
        submit_label="Create account",
        loading=S.creating,
        on_submit=S.create,
        open=S.create_open,
        on_open_change=S.set_create_open,
    )


def _confirm_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title(S.confirm_title),
            rx.alert_dialog.description(S.confirm_description),
            rx.vstack(
                rx.cond(
                    S.confirm_action == "role",
                    select_field(
                        "New role",
                        "confirm_role",
                        S.confirm_role,
                        S.set_confirm_role,
                        _role_items(False),
                    ),
                ),
                error_callout(S.confirm_error),
                rx.hstack(
                    rx.alert_dialog.cancel(
                        rx.button("Cancel", variant="soft", color_scheme="gray")
                    ),
                    rx.button(
                        S.confirm_label,
                        color_scheme=rx.cond(
                            (S.confirm_action == "deactivate") | (S.confirm_action == "erase"),
                            "red",
                            "indigo",
                        ),
                        on_click=S.confirm,
                        loading=S.confirming,
                    ),
                    justify="end",
                    spacing="3",
                    width="100%",
                ),
                spacing="3",
                margin_top="1rem",
                width="100%",
            ),
            max_width="30rem",
        ),
        open=S.confirm_open,
        on_open_change=S.set_confirm_open,
    )


@rx.page(route=routes.ADMIN_USERS, title="Users · Practicum", on_load=[guard("ADMIN"), S.load])
def admin_users() -> rx.Component:
    return page(
        "Users",
        account_tabs(),
        _filters(),
        success_callout(S.done_notice),
        _reset_link(),
        error_callout(S.error),
        _results(),
        _create_dialog(),
        _confirm_dialog(),
        actions=rx.button(
            rx.icon("user-plus", aria_hidden="true"), "New account", on_click=S.open_create
        ),
    )
