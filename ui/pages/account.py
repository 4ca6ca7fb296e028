"""Account pages: sign up with a join code, set a password from an invite or reset link,
and the signed-in user's account page (change password, sign out everywhere)."""

import reflex as rx

from ui import routes
from ui.components.feedback import error_callout, loading, success_callout
from ui.components.forms import text_input
from ui.components.layout import dead_end, page
from ui.state.account import PASSWORD_HINT, AccountState, SetPasswordState, SignUpState
from ui.state.base import guard

FORM_WIDTH = "28rem"


def _form_card(*children, on_submit) -> rx.Component:
    return rx.card(
        rx.form(rx.vstack(*children, spacing="4", width="100%"), on_submit=on_submit),
        width="100%",
        size="3",
    )


def _submit(label: str, busy) -> rx.Component:
    return rx.button(label, type="submit", loading=busy, size="3", width="100%")


@rx.page(route=routes.SIGN_UP, title="Sign up · Practicum", on_load=SignUpState.open)
def sign_up() -> rx.Component:
    S = SignUpState
    return page(
        "Sign up",
        rx.cond(
            S.available,
            _form_card(
                rx.text(
                    "Make your student account with the join code your teacher gave you.",
                    size="2",
                    color_scheme="gray",
                ),
                error_callout(S.error),
                text_input(
                    "Your name",
                    "name",
                    S.name,
                    S.set_name,
                    error=S.errors["name"],
                    auto_complete="name",
                    auto_focus=True,
                ),
                text_input(
                    "Email",
                    "email",
                    S.email,
                    S.set_email,
                    error=S.errors["email"],
                    type="email",
                    auto_complete="username",
                ),
                text_input(
                    "Password",
                    "password",
                    S.password,
                    S.set_password,
                    error=S.errors["password"],
                    hint=PASSWORD_HINT,
                    type="password",
                    auto_complete="new-password",
                ),
                text_input(
                    "Join code",
                    "joinCode",
                    S.join_code,
                    S.set_join_code,
                    error=S.errors["joinCode"],
                    hint="For example K7QM-3XPA.",
                    auto_complete="off",
                    style={"text_transform": "uppercase"},
                ),
                _submit("Sign up", S.submitting),
                on_submit=S.submit,
            ),
            rx.callout(
                "Sign-up is turned off on this Practicum. Ask your teacher for an invite.",
                icon="info",
                role="status",
                width="100%",
            ),
        ),
        rx.text(
            "Already have an account? ",
            rx.link("Sign in", href=routes.LOGIN),
            size="2",
        ),
        max_width=FORM_WIDTH,
    )


def _set_password_form() -> rx.Component:
    S = SetPasswordState
    return _form_card(
        rx.text(
            rx.cond(
                S.purpose == "INVITE",
                "Welcome, " + S.link_name + ". Choose a password to finish your account.",
                "Choose a new password for your account, " + S.link_name + ".",
            ),
            size="3",
        ),
        rx.text("Your email: " + S.link_email, size="2", color_scheme="gray"),
        error_callout(S.error),
        text_input(
            "New password",
            "password",
            S.password,
            S.set_password,
            error=S.password_error,
            hint=PASSWORD_HINT,
            type="password",
            auto_complete="new-password",
            auto_focus=True,
        ),
        text_input(
            "The same password again",
            "confirm",
            S.confirm,
            S.set_confirm,
            error=S.confirm_error,
            type="password",
            auto_complete="new-password",
        ),
        _submit("Set password and sign in", S.submitting),
        on_submit=S.submit,
    )


@rx.page(
    route=routes.SET_PASSWORD, title="Set your password · Practicum", on_load=SetPasswordState.open
)
def set_password() -> rx.Component:
    S = SetPasswordState
    return page(
        "Set your password",
        rx.cond(
            S.loading,
            loading("Checking your link…"),
            rx.cond(
                S.invalid,
                dead_end(
                    "This link does not work any more: it was already used, it expired, or a "
                    "newer one replaced it. Ask your teacher or an admin for a new one.",
                    "Go to sign in",
                    routes.LOGIN,
                    icon="link-2-off",
                ),
                _set_password_form(),
            ),
        ),
        max_width=FORM_WIDTH,
    )


@rx.page(
    route=routes.ACCOUNT,
    title="Your account · Practicum",
    on_load=[guard(), AccountState.open],
)
def account() -> rx.Component:
    S = AccountState
    return page(
        "Your account",
        rx.card(
            rx.vstack(
                rx.text(S.user_name, weight="bold", size="4"),
                rx.text(S.user_email, size="2", color_scheme="gray"),
                rx.text("Signed in as " + S.role_name + ".", size="2"),
                spacing="1",
            ),
            width="100%",
        ),
        success_callout(S.changed),
        error_callout(S.error),
        _form_card(
            rx.heading("Change your password", size="4", as_="h2"),
            text_input(
                "Current password",
                "currentPassword",
                S.current,
                S.set_current,
                error=S.errors["currentPassword"],
                type="password",
                auto_complete="current-password",
            ),
            text_input(
                "New password",
                "newPassword",
                S.new,
                S.set_new,
                error=S.errors["newPassword"],
                hint=PASSWORD_HINT + " Changing it signs you out everywhere else.",
                type="password",
                auto_complete="new-password",
            ),
            text_input(
                "The new password again",
                "confirmPassword",
                S.confirm,
                S.set_confirm,
                error=S.errors["confirm"],
                type="password",
                auto_complete="new-password",
            ),
            rx.button("Change password", type="submit", loading=S.saving, size="3"),
            on_submit=S.change_password,
        ),
        rx.card(
            rx.vstack(
                rx.heading("Sign out everywhere", size="4", as_="h2"),
                rx.text(
                    "Ends every sign-in of your account: on this device, other browsers and "
                    "phones, and any live page they have open.",
                    size="2",
                    color_scheme="gray",
                ),
                rx.button(
                    rx.icon("log-out", size=16, aria_hidden="true"),
                    "Sign out everywhere",
                    on_click=S.sign_out_everywhere,
                    loading=S.ending,
                    color_scheme="red",
                    variant="soft",
                ),
                spacing="3",
                align="start",
            ),
            width="100%",
        ),
        max_width="36rem",
    )
