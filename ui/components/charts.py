"""Charts and metric cards, in the theme's colours. Data is a list of dicts; every chart
has a text title and a table alternative for screen readers is the page's to give."""

import reflex as rx

SERIES_COLOURS = ["var(--accent-9)", "var(--amber-9)", "var(--violet-9)", "var(--crimson-9)"]


def metric_card(label: str, value, hint="", icon: str = "activity", test_id: str = ""):
    """One figure with its label; `aria-live` so a screen reader hears live changes."""
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.icon(icon, size=18, color=rx.color("accent", 10), aria_hidden="true"),
                rx.text(label, size="2", color_scheme="gray", weight="medium"),
                align="center",
                spacing="2",
            ),
            rx.text(
                value,
                size="7",
                weight="bold",
                aria_live="polite",
                data_testid=test_id or None,
            ),
            rx.cond(hint != "", rx.text(hint, size="1", color_scheme="gray")),
            spacing="1",
        ),
        width="100%",
    )


def bar_chart(title: str, data, x_key: str, series: list[tuple[str, str]], height: int = 260):
    """`series`: (data key, legend name) pairs."""
    return _chart_card(
        title,
        rx.recharts.bar_chart(
            *[
                rx.recharts.bar(
                    data_key=key,
                    name=name,
                    fill=SERIES_COLOURS[i % 4],
                    is_animation_active=False,  # a refresh must not regrow the bars from zero
                )
                for i, (key, name) in enumerate(series)
            ],
            *_axes(x_key, len(series) > 1),
            data=data,
            height=height,
            width="100%",
        ),
    )


def line_chart(title: str, data, x_key: str, series: list[tuple[str, str]], height: int = 260):
    return _chart_card(
        title,
        rx.recharts.line_chart(
            *[
                rx.recharts.line(
                    data_key=key,
                    name=name,
                    stroke=SERIES_COLOURS[i % 4],
                    stroke_width=2,
                    dot=False,
                    type_="monotone",
                    is_animation_active=False,
                )
                for i, (key, name) in enumerate(series)
            ],
            *_axes(x_key, len(series) > 1),
            data=data,
            height=height,
            width="100%",
        ),
    )


def _axes(x_key: str, legend: bool) -> list:
    parts = [
        rx.recharts.cartesian_grid(stroke_dasharray="3 3", stroke="var(--gray-5)"),
        rx.recharts.x_axis(data_key=x_key, tick={"fontSize": 12}),
        rx.recharts.y_axis(tick={"fontSize": 12}, width=56),
        rx.recharts.graphing_tooltip(),
    ]
    if legend:
        parts.append(rx.recharts.legend())
    return parts


def _chart_card(title: str, chart: rx.Component) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading(title, size="3", as_="h2"),
            rx.box(chart, width="100%", role="img", aria_label=title),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )
