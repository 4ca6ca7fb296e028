"""One theme for every page: Radix Themes' tokens (applied in rxconfig.py), plus the few
shared sizes."""

THEME = dict(
    appearance="light",
    accent_color="indigo",
    gray_color="slate",
    radius="large",
    scaling="100%",
    has_background=True,
)

CONTENT_MAX_WIDTH = "72rem"
READING_MAX_WIDTH = "48rem"  # chat and forms: lines short enough to read

STYLE = {
    "font_family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
    # A visible focus ring everywhere, for keyboard users.
    ":focus-visible": {"outline": "2px solid var(--accent-9)", "outline_offset": "2px"},
}

# Read by screen readers, not shown: e.g. a table's caption where a heading names it on screen.
VISUALLY_HIDDEN = {
    "position": "absolute",
    "width": "1px",
    "height": "1px",
    "overflow": "hidden",
    "clip": "rect(0 0 0 0)",
    "white_space": "nowrap",
}

DIFFICULTY_LABELS = {1: "Gentle", 2: "Easy", 3: "Moderate", 4: "Hard", 5: "Very hard"}
