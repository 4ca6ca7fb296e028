"""Shared states of a page: loading, empty, error, success."""

import reflex as rx


def error_callout(message, **props) -> rx.Component:
    """An error for the person at the screen; renders nothing while `message` is empty."""
    return rx.cond(
        message,
        rx.callout(
            message, icon="triangle_alert", color_scheme="red", role="alert", width="100%", **props
        ),
    )


def success_callout(message, **props) -> rx.Component:
    return rx.cond(
        message,
        rx.callout(
            message,
            icon="circle_check",
            color_scheme="green",
            role="status",
            width="100%",
            **props,
        ),
    )


def empty_state(title: str, hint, icon: str = "inbox", action=None) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.icon(icon, size=32, color=rx.color("gray", 9), aria_hidden="true"),
            rx.text(title, size="4", weight="bold", as_="p"),
            rx.text(hint, color_scheme="gray", align="center"),
            *([action] if action is not None else []),
            align="center",
            spacing="2",
            padding="1.5rem",
        ),
        width="100%",
    )


def loading(label: str = "Loading…") -> rx.Component:
    return rx.hstack(
        rx.spinner(size="3"),
        rx.text(label, color_scheme="gray"),
        role="status",
        aria_live="polite",
        align="center",
        padding="1rem",
    )
