"""Form fields with a visible label, a hint and the API's message for that field."""

import reflex as rx


def field_error(error, field_id: str = "", **props) -> rx.Component:
    """A field's problem, read out when it appears; nothing while `error` is empty."""
    if field_id:
        props["id"] = f"{field_id}-error"
    return rx.cond(error, rx.text(error, size="2", color_scheme="red", role="alert", **props))


def _described(field_id: str, hint: str, error) -> rx.Component:
    return rx.fragment(
        rx.cond(hint != "", rx.text(hint, id=f"{field_id}-hint", size="1", color_scheme="gray")),
        field_error(error, field_id),
    )


def field(
    label: str,
    name: str,
    control: rx.Component,
    error="",
    hint: str = "",
    required: bool = False,
) -> rx.Component:
    """`control` must carry `id=name`; the label points at it."""
    return rx.vstack(
        rx.el.label(
            label,
            rx.cond(required, rx.text(" *", as_="span", color_scheme="red", aria_hidden="true")),
            html_for=name,
            style={"font_weight": "500", "font_size": "var(--font-size-2)"},
        ),
        control,
        _described(name, hint, error),
        spacing="1",
        width="100%",
        align="stretch",
    )


def _labelled(control, label: str, name: str, value, on_change, error, hint, **props):
    """`control` (rx.input, rx.text_area) with its label, hint and error wired to it."""
    return field(
        label,
        name,
        control(
            id=name,
            name=name,
            value=value,
            on_change=on_change,
            aria_invalid=rx.cond(error, "true", "false"),
            aria_describedby=f"{name}-hint {name}-error",
            width="100%",
            **props,
        ),
        error=error,
        hint=hint,
        required=props.get("required", False),
    )


def text_input(label: str, name: str, value, on_change, error="", hint="", **props):
    return _labelled(rx.input, label, name, value, on_change, error, hint, **props)


def text_area(label: str, name: str, value, on_change, error="", hint="", rows="4", **props):
    return _labelled(rx.text_area, label, name, value, on_change, error, hint, rows=rows, **props)


# Installed once per tab. It reads the marker below at the moment of leaving, so it asks
# only while a form on screen says it has unsaved changes.
_LEAVE_GUARD = """
if (!window.__practicumLeaveGuard) {
  window.__practicumLeaveGuard = true;
  const unsaved = () => document.querySelector('[data-unsaved-changes="true"]');
  window.addEventListener('beforeunload', (event) => {
    if (unsaved()) { event.preventDefault(); event.returnValue = ''; }
  });
  window.addEventListener('click', (event) => {
    const marker = unsaved();
    const link = event.target.closest && event.target.closest('a[href]');
    if (!marker || !link || link.target === '_blank') return;
    if (link.getAttribute('href').startsWith('#')) return;
    if (!window.confirm(marker.dataset.unsavedMessage)) {
      event.preventDefault();
      event.stopPropagation();
    }
  }, true);
}
"""


def leave_guard(dirty, message: str) -> rx.Component:
    """Asks before the page is left while `dirty`: the browser's own question on closing or
    reloading the tab, and `message` in a confirm on following a link in the app."""
    return rx.el.div(
        hidden=True,
        custom_attrs={
            "data-unsaved-changes": rx.cond(dirty, "true", "false"),
            "data-unsaved-message": message,
        },
        on_mount=rx.call_script(_LEAVE_GUARD),
    )


def dialog_actions(submit_label: str, loading) -> rx.Component:
    """A form dialog's last row: Cancel closes it, the submit button sends the form."""
    return rx.hstack(
        rx.dialog.close(rx.button("Cancel", type="button", variant="soft", color_scheme="gray")),
        rx.button(submit_label, type="submit", loading=loading),
        justify="end",
        spacing="3",
        width="100%",
    )


def filter_actions(loading, on_clear, filtered) -> rx.Component:
    """A filter form's buttons: apply what is set, or clear every filter."""
    return rx.hstack(
        rx.button("Apply filters", type="submit", loading=loading),
        rx.button(
            "Clear filters",
            type="button",
            variant="soft",
            color_scheme="gray",
            on_click=on_clear,
            disabled=~filtered,
        ),
        spacing="3",
        wrap="wrap",
    )


def select_field(label: str, name: str, value, on_change, items, hint: str = "") -> rx.Component:
    """A labelled select whose value is sent with its form as `name`."""
    return field(
        label,
        name,
        rx.select.root(
            rx.select.trigger(id=name, width="100%"),
            rx.select.content(*items),
            value=value,
            on_change=on_change,
            name=name,
        ),
        hint=hint,
    )


def form_dialog(
    title,
    description: str,
    fields: list[rx.Component],
    *,
    submit_label: str,
    loading,
    on_submit,
    open,
    on_open_change,
    max_width: str = "30rem",
    spacing: str = "3",
) -> rx.Component:
    """A dialog holding one form: its title, a line on what it does, the form's fields,
    then Cancel and the submit button."""
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(title),
            rx.dialog.description(
                description,
                font_size="var(--font-size-2)",
                line_height="var(--line-height-2)",
                color=rx.color("gray", 11),
            ),
            rx.form(
                rx.vstack(
                    *fields,
                    dialog_actions(submit_label, loading),
                    spacing=spacing,
                    width="100%",
                    margin_top="1rem",
                ),
                on_submit=on_submit,
                reset_on_submit=False,
            ),
            max_width=max_width,
        ),
        open=open,
        on_open_change=on_open_change,
    )
