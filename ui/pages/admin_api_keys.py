"""`/admin/api-keys`: keys for integrations. Create (shown once, with a copy button),
last use, revoke (confirmed)."""

import reflex as rx

from ui import routes
from ui.components.feedback import empty_state, error_callout, loading, success_callout
from ui.components.forms import form_dialog, select_field, text_input
from ui.components.layout import account_tabs, page
from ui.components.tables import cell, data_table, hidden_header
from ui.state.admin_api_keys import NO_SECTION, ROLES, SCOPES
from ui.state.admin_api_keys import AdminApiKeysState as S
from ui.state.base import guard


def _new_secret() -> rx.Component:
    return rx.cond(
        S.new_secret != "",
        rx.callout.root(
            rx.callout.icon(rx.icon("key-round")),
            rx.vstack(
                rx.text(
                    "The key “",
                    S.new_secret_name,
                    "”. Copy it now: it is shown only this once, and Practicum keeps only a "
                    "fingerprint of it.",
                    weight="medium",
                ),
                rx.code(
                    S.new_secret,
                    id="new-api-key",
                    size="2",
                    overflow_wrap="anywhere",
                    word_break="break-all",
                    user_select="all",
                ),
                rx.text(
                    "Send it as ",
                    rx.code("Authorization: Bearer <key>"),
                    " with every GraphQL request.",
                    size="2",
                ),
                rx.hstack(
                    rx.button(
                        rx.icon("copy", aria_hidden="true"), "Copy key", on_click=S.copy_secret
                    ),
                    rx.button(
                        "I have saved it",
                        variant="soft",
                        color_scheme="gray",
                        on_click=S.forget_secret,
                    ),
                    spacing="3",
                    wrap="wrap",
                ),
                spacing="2",
                width="100%",
                min_width="0",
            ),
            color_scheme="amber",
            role="status",
            width="100%",
        ),
    )


def _status_badge(key) -> rx.Component:
    return rx.match(
        key["status"],
        ("Active", rx.badge("Active", color_scheme="green", high_contrast=True)),
        ("Expired", rx.badge("Expired", color_scheme="amber", high_contrast=True)),
        rx.badge("Revoked", color_scheme="red", high_contrast=True),
    )


def _revoke_button(key) -> rx.Component:
    return rx.cond(
        key["status"] == "Revoked",
        rx.fragment(),
        rx.button(
            "Revoke",
            size="1",
            variant="soft",
            color_scheme="red",
            on_click=S.ask_revoke(key["id"], key["name"]),
            aria_label="Revoke " + key["name"],
        ),
    )


def _cells(key) -> list[rx.Component]:
    return [
        rx.table.row_header_cell(key["name"], white_space="nowrap"),
        cell(rx.code(key["prefix"], variant="ghost")),
        cell(key["role"]),
        rx.table.cell(key["scope"], min_width="10rem"),
        cell(key["last_used"]),
        cell(key["expires"]),
        cell(_status_badge(key)),
        rx.table.cell(_revoke_button(key)),
    ]


def _card(key) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.flex(
                rx.text(key["name"], weight="medium"),
                _status_badge(key),
                spacing="2",
                wrap="wrap",
                align="center",
            ),
            rx.code(key["prefix"], variant="ghost"),
            rx.text(key["role"], " · ", key["scope"], size="2"),
            rx.text("Last used: ", key["last_used"], size="2", color_scheme="gray"),
            rx.text("Expires: ", key["expires"], size="2", color_scheme="gray"),
            _revoke_button(key),
            spacing="1",
            min_width="0",
        ),
        width="100%",
        data_testid="api-key-card",
    )


HEADERS = ["Name", "Key", "Role", "May", "Last used", "Expires", "Status", hidden_header("Actions")]


def _list() -> rx.Component:
    return rx.cond(
        S.loading,
        loading("Loading API keys…"),
        rx.cond(
            S.keys.length() > 0,
            rx.vstack(
                data_table(HEADERS, S.keys, _cells, "API keys, newest first", phone_card=_card),
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
                    "No API keys yet",
                    "A key lets another system (a gradebook, a reporting tool) use Practicum's "
                    "GraphQL API without anyone's password.",
                    icon="key-round",
                ),
            ),
        ),
    )


def _create_dialog() -> rx.Component:
    return form_dialog(
        "New API key",
        (
            "The key acts with its role, under the same rules and limits as a person; "
            "its scope narrows that further."
        ),
        [
            error_callout(S.create_error),
            text_input(
                "Name",
                "key_name",
                S.key_name,
                S.set_key_name,
                error=S.create_errors["name"],
                hint="What uses it, e.g. “Weekly cost report”.",
                auto_complete="off",
            ),
            select_field(
                "Role",
                "key_role",
                S.key_role,
                S.set_key_role,
                [rx.select.item(label, value=value) for value, label in ROLES.items()],
            ),
            select_field(
                "May",
                "key_scope",
                S.key_scope,
                S.set_key_scope,
                [rx.select.item(label, value=value) for value, label in SCOPES.items()],
            ),
            select_field(
                "Section",
                "key_section",
                S.key_section,
                S.set_key_section,
                [
                    rx.select.item("Every section", value=NO_SECTION),
                    rx.foreach(S.sections, lambda s: rx.select.item(s["name"], value=s["id"])),
                ],
                hint="A key for one section only reads, and only that section.",
            ),
            text_input(
                "Works until (UTC, inclusive)",
                "key_expires",
                S.key_expires,
                S.set_key_expires,
                error=S.create_errors["expiresAt"],
                type="date",
            ),
        ],
        submit_label="Create key",
        loading=S.creating,
        on_submit=S.create,
        open=S.create_open,
        on_open_change=S.set_create_open,
    )


def _revoke_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Revoke “", S.revoke_name, "”?"),
            rx.alert_dialog.description(
                "It stops working at once, for every request and live subscription. "
                "This cannot be undone: the integration needs a new key."
            ),
            error_callout(S.revoke_error),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Keep it", variant="soft", color_scheme="gray")),
                rx.button("Revoke key", color_scheme="red", on_click=S.revoke, loading=S.revoking),
                justify="end",
                spacing="3",
                margin_top="1rem",
            ),
            max_width="28rem",
        ),
        open=S.revoke_open,
        on_open_change=S.set_revoke_open,
    )


@rx.page(
    route=routes.ADMIN_API_KEYS, title="API keys · Practicum", on_load=[guard("ADMIN"), S.load]
)
def admin_api_keys() -> rx.Component:
    return page(
        "API keys",
        account_tabs(),
        _new_secret(),
        success_callout(S.key_notice),
        error_callout(S.error),
        _list(),
        _create_dialog(),
        _revoke_dialog(),
        actions=rx.button(
            rx.icon("key-round", aria_hidden="true"), "New API key", on_click=S.open_create
        ),
    )
