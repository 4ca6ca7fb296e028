"""The sign-in page."""

import reflex as rx

from ui import routes
from ui.components.feedback import error_callout
from ui.components.forms import text_input
from ui.components.layout import page
from ui.state.login import LoginState
from ui.theme import READING_MAX_WIDTH


@rx.page(route=routes.LOGIN, title="Sign in · Practicum", on_load=LoginState.open)
def login() -> rx.Component:
    return page(
        "Sign in",
        rx.card(
            rx.form(
                rx.vstack(
                    rx.cond(
                        LoginState.message,
                        rx.callout(LoginState.message, icon="info", role="status", width="100%"),
                    ),
                    error_callout(LoginState.error),
                    text_input(
                        "Email",
                        "email",
                        LoginState.email,
                        LoginState.set_email,
                        error=LoginState.email_error,
                        type="email",
                        auto_complete="username",
                        auto_focus=True,
                    ),
                    text_input(
                        "Password",
                        "password",
                        LoginState.password,
                        LoginState.set_password,
                        error=LoginState.password_error,
                        type="password",
                        auto_complete="current-password",
                    ),
                    rx.button(
                        "Sign in",
                        type="submit",
                        loading=LoginState.submitting,
                        size="3",
                        width="100%",
                    ),
                    spacing="4",
                    width="100%",
                ),
                on_submit=LoginState.submit,
            ),
            width="100%",
            size="3",
        ),
        rx.text(
            "New student with a join code? ",
            rx.link("Sign up", href=routes.SIGN_UP),
            size="2",
        ),
        rx.text(
            "Practise professional conversations with AI-simulated clients.",
            color_scheme="gray",
            size="2",
        ),
        max_width="28rem",
    )


__all__ = ["READING_MAX_WIDTH", "login"]
