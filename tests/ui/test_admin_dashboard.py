"""The admin dashboard's live figures stop when the admin's tab goes. Reflex has no typed API
for "is this tab still connected"; its Background Tasks guide reads the app's
`event_namespace.token_to_sid`, and so does `ui.state.admin_dashboard`. These tests fail when
a Reflex upgrade moves that, so that the dashboard is fixed before it leaks subscriptions."""

from __future__ import annotations

import ast
import inspect
from importlib.metadata import version

from reflex.app import App, EventNamespace
from reflex.utils.prerequisites import get_and_validate_app

from ui.state import admin_dashboard


def test_reflex_still_maps_each_connected_tab_to_its_socket():
    assert version("reflex").startswith("0.10."), "check the socket map below, then update"
    assert isinstance(App.event_namespace, property)
    assert isinstance(EventNamespace.token_to_sid, property)
    assert callable(get_and_validate_app)


def test_the_dashboard_state_does_not_import_the_app_module():
    """`ui.ui` imports every page and state: importing it back from a state is a cycle."""
    tree = ast.parse(inspect.getsource(admin_dashboard))
    imported = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    imported |= {
        f"{node.module}.{alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert "ui.ui" not in imported
