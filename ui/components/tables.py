"""Tables that fit a phone: they scroll sideways in their own box."""

import reflex as rx

from ui.theme import VISUALLY_HIDDEN


def data_table(headers: list[str], rows, cells, caption: str) -> rx.Component:
    """A table that scrolls sideways on a narrow screen; `cells(row)` gives the row's cells
    in the order of `headers`."""
    return rx.table.root(
        rx.el.caption(caption, style=VISUALLY_HIDDEN),
        rx.table.header(
            rx.table.row(*[rx.table.column_header_cell(h, white_space="nowrap") for h in headers])
        ),
        rx.table.body(rx.foreach(rows, lambda row: rx.table.row(*cells(row)))),
        variant="surface",
        size="1",
        width="100%",
    )


def cell(value, **props) -> rx.Component:
    """A table cell kept on one line."""
    return rx.table.cell(value, white_space="nowrap", **props)


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
