"""Badges used on several pages."""

import reflex as rx


def difficulty_badge(text, level, size: str = "2") -> rx.Component:
    """ "Moderate · 3/5", greener for gentler clients; high contrast so it stays readable."""
    colour = rx.match(level, (1, "green"), (2, "green"), (3, "amber"), (4, "orange"), "red")
    return rx.badge(text, color_scheme=colour, variant="soft", high_contrast=True, size=size)
