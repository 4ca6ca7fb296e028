"""Tables that fit a phone: they scroll sideways in their own box."""

import reflex as rx

from ui.theme import VISUALLY_HIDDEN

WIDE_ONLY = ["none", "table-cell"]  # a column left out on a phone, where it would not fit
# With `phone_card`, the table shows from a tablet up and a card per row below it.
TABLE_FROM_TABLET = ["none", "none", "block"]
CARDS_BELOW_TABLET = ["flex", "flex", "none"]


def data_table(
    headers: list,
    rows,
    cells,
    caption: str,
    *,
    numeric=(),
    wide_only=(),
    row_props: dict | None = None,
    size: str = "1",
    phone_card=None,
) -> rx.Component:
    """The one table of every page; it scrolls sideways on a narrow screen. `cells(row)`
    gives the row's cells in the order of `headers` (names, or `hidden_header(...)` for a
    column of buttons). Columns named in `numeric` are aligned right, in `wide_only` left out
    on a phone (their cells say so with `display=WIDE_ONLY`). With `phone_card(row)`, a
    phone shows a card per row instead of the table, every field and button in view."""

    def header(name) -> rx.Component:
        if not isinstance(name, str):
            return name
        return rx.table.column_header_cell(
            name,
            white_space="nowrap",
            justify="end" if name in numeric else "start",
            display=WIDE_ONLY if name in wide_only else None,
        )

    table = rx.table.root(
        rx.el.caption(caption, style=VISUALLY_HIDDEN),
        rx.table.header(rx.table.row(*[header(name) for name in headers])),
        rx.table.body(rx.foreach(rows, lambda row: rx.table.row(*cells(row), **(row_props or {})))),
        variant="surface",
        size=size,
        width="100%",
    )
    if phone_card is None:
        return table
    return rx.fragment(
        rx.box(table, display=TABLE_FROM_TABLET, width="100%"),
        rx.vstack(
            rx.foreach(rows, phone_card), display=CARDS_BELOW_TABLET, spacing="2", width="100%"
        ),
    )


def hidden_header(name: str) -> rx.Component:
    """A column header read by screen readers only (e.g. "Actions" over icon buttons)."""
    return rx.table.column_header_cell(rx.el.span(name, style=VISUALLY_HIDDEN))


def cell(value, **props) -> rx.Component:
    """A table cell kept on one line."""
    return rx.table.cell(value, white_space="nowrap", **props)


def figure_cell(value, **props) -> rx.Component:
    """A cell of a `numeric` column: aligned right, on one line."""
    return cell(value, justify="end", **props)


def show_as_table(summary: str, table: rx.Component) -> rx.Component:
    """A folded table under a chart: the chart's figures for screen readers and exact
    reading."""
    return rx.el.details(
        rx.el.summary(
            summary,
            cursor="pointer",
            font_weight="500",
            color=rx.color("accent", 11),
            padding_y="0.25rem",
        ),
        rx.box(table, margin_top="0.5rem"),
        width="100%",
    )
