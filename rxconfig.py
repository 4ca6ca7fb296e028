"""Reflex configuration: the web UI lives in `ui/` (app module `ui.ui`)."""

import reflex as rx

from ui.theme import THEME

config = rx.Config(
    app_name="ui",
    telemetry_enabled=False,
    show_built_with_reflex=False,
    plugins=[rx.plugins.RadixThemesPlugin(theme=rx.theme(**THEME))],
    disable_plugins=[rx.plugins.SitemapPlugin],
)
