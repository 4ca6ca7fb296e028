"""The page shell: a skip link, the role-aware navigation bar and the main landmark."""

import reflex as rx
from reflex.components.react_router import ReactRouterLink

from ui import routes
from ui.state.base import AppState
from ui.theme import CONTENT_MAX_WIDTH, READING_MAX_WIDTH

NAV_LINKS = {
    "STUDENT": [
        ("Practise", routes.PRACTICE),
        ("My sessions", routes.HISTORY),
        ("Progress", routes.PROGRESS),
    ],
    "TEACHER": [
        ("Clients", routes.PROFILES),
        ("Sections", routes.SECTIONS),
        ("Assignments", routes.ASSIGNMENTS),
        ("Rubrics", routes.RUBRICS),
        ("Transcripts", routes.TEACHER_SESSIONS),
        ("Usage", routes.TEACHER_INSIGHT),
    ],
    "ADMIN": [
        ("Dashboard", routes.ADMIN_DASHBOARD),
        ("Errors", routes.ADMIN_ERRORS),
        ("Budgets & limits", routes.ADMIN_BUDGETS),
        ("Accounts", routes.ADMIN_USERS),
        ("Transcripts", routes.TEACHER_SESSIONS),
        ("Clients", routes.PROFILES),
    ],
}


# The admins' account pages: one "Accounts" link in the bar (tabs on the pages lead on),
# each of them in the phone menu.
ACCOUNT_PAGES = [
    ("Users", routes.ADMIN_USERS),
    ("API keys", routes.ADMIN_API_KEYS),
    ("Audit log", routes.ADMIN_AUDIT),
]

# The link to the page open now: marked for screen readers, and drawn as the current one.
CURRENT = "&[aria-current='page']"


def _current(href: str) -> dict:
    if href == routes.ADMIN_USERS:  # "Accounts": any of its pages
        on = AppState.current_path == href
        for _, other in ACCOUNT_PAGES[1:]:
            on = on | (AppState.current_path == other)
        return {"aria_current": rx.cond(on, "page", "false")}
    return {"aria_current": rx.cond(AppState.current_path == href, "page", "false")}


def account_tabs() -> rx.Component:
    """The admins' account pages, side by side, on each of them."""
    return rx.el.nav(
        rx.flex(
            *[
                rx.link(
                    label,
                    href=href,
                    weight="medium",
                    underline="none",
                    padding_x="0.75rem",
                    padding_y="0.4rem",
                    border_radius="var(--radius-2)",
                    high_contrast=True,
                    style={
                        "&[aria-current='page']": {
                            "background_color": rx.color("accent", 4),
                            "color": rx.color("accent", 12),
                        }
                    },
                    aria_current=rx.cond(AppState.current_path == href, "page", "false"),
                )
                for label, href in ACCOUNT_PAGES
            ],
            spacing="1",
            wrap="wrap",
        ),
        aria_label="Accounts",
    )


def _menu_item(label: str, href: str) -> rx.Component:
    # The item lends its role and keyboard handling to a router link: the link itself, not
    # `rx.link` (a Radix Link that slots onto a router link), because a menu item's slot
    # hands its child two children, onto which a second slot cannot slot (the page crashed).
    return rx.menu.item(
        ReactRouterLink.create(
            label, to=href, style={CURRENT: {"font_weight": "600"}}, **_current(href)
        ),
        as_child=True,
    )


def _links(role: str, as_menu: bool) -> rx.Component:
    if as_menu:
        items = []
        for label, href in NAV_LINKS[role]:
            if href == routes.ADMIN_USERS:
                items += [_menu_item(name, page) for name, page in ACCOUNT_PAGES]
            else:
                items.append(_menu_item(label, href))
        return rx.fragment(*items)
    return rx.hstack(
        *[
            rx.link(
                label,
                href=href,
                weight="medium",
                high_contrast=True,
                underline="hover",
                style={
                    CURRENT: {
                        "color": rx.color("accent", 11),
                        "text_decoration": "underline",
                        "text_decoration_thickness": "2px",
                        "text_underline_offset": "0.4em",
                    }
                },
                **_current(href),
            )
            for label, href in NAV_LINKS[role]
        ],
        spacing="5",
        align="center",
    )


def _role_links(as_menu: bool) -> rx.Component:
    return rx.match(
        AppState.user_role,
        *[(role, _links(role, as_menu)) for role in NAV_LINKS],
        rx.fragment(),
    )


def _account() -> rx.Component:
    return rx.hstack(
        rx.link(
            AppState.user_name,
            href=routes.ACCOUNT,
            size="2",
            color_scheme="gray",
            underline="hover",
            title="Your account",
            display=["none", "none", "block"],
            **_current(routes.ACCOUNT),
        ),
        rx.button("Sign out", on_click=AppState.logout, variant="soft", size="2"),
        align="center",
        spacing="3",
    )


def _phone_menu() -> rx.Component:
    return rx.menu.root(
        rx.menu.trigger(
            rx.icon_button(rx.icon("menu"), variant="soft", aria_label="Open the menu"),
        ),
        rx.menu.content(
            _role_links(as_menu=True),
            rx.menu.separator(),
            _menu_item("Your account", routes.ACCOUNT),
        ),
    )


def navbar() -> rx.Component:
    return rx.el.nav(
        rx.hstack(
            rx.link(
                rx.hstack(
                    rx.icon("messages-square", color=rx.color("accent", 10), aria_hidden="true"),
                    rx.text("Practicum", size="5", weight="bold"),
                    align="center",
                    spacing="2",
                ),
                href=routes.HOME,
                underline="none",
                high_contrast=True,
                aria_label="Practicum home",
            ),
            rx.cond(
                AppState.signed_in,
                rx.fragment(
                    rx.box(_role_links(as_menu=False), display=["none", "none", "block"]),
                    rx.spacer(),
                    rx.box(_phone_menu(), display=["block", "block", "none"]),
                    _account(),
                ),
            ),
            align="center",
            spacing="5",
            max_width=CONTENT_MAX_WIDTH,
            margin_x="auto",
            padding_x=["0.75rem", "1rem", "1.5rem"],
            padding_y="0.75rem",
            width="100%",
        ),
        aria_label="Main",
        border_bottom=f"1px solid {rx.color('gray', 5)}",
        background_color=rx.color("gray", 1),
        position="sticky",
        top="0",
        z_index="10",
    )


def skip_link() -> rx.Component:
    return rx.link(
        "Skip to content",
        href="#main",
        position="absolute",
        left="-9999px",
        _focus={
            "left": "1rem",
            "top": "1rem",
            "z_index": "20",
            "padding": "0.5rem",
            "background": "white",
        },
    )


def _heading_row(title, actions=None) -> rx.Component:
    return rx.flex(
        rx.heading(title, as_="h1", size=rx.breakpoints(initial="6", md="7")),
        rx.spacer(),
        *([actions] if actions is not None else []),
        align="center",
        wrap="wrap",
        spacing="3",
        width="100%",
    )


def _body(*children) -> rx.Component:
    return rx.vstack(*children, spacing="4", width="100%", align="stretch", margin_top="1rem")


def dead_end(message, link_label, href, icon: str = "compass") -> rx.Component:
    """Where a page has nothing to show (no such page, no such session, not for this
    role): what happened in the user's words, and one way on."""
    return rx.card(
        rx.vstack(
            rx.icon(icon, size=32, color=rx.color("accent", 9), aria_hidden="true"),
            rx.text(message, size="3", align="center", as_="p", max_width="30rem"),
            rx.button(rx.link(link_label, href=href, underline="none"), as_child=True, size="3"),
            align="center",
            spacing="4",
            padding=["1rem", "1.5rem", "2rem"],
        ),
        width="100%",
        max_width="40rem",
    )


def dead_end_page(title, message, link_label, href, icon: str = "compass") -> rx.Component:
    """A whole page, in the shell, for a dead end: `title` is its h1 ("Client not found")."""
    return page(title, dead_end(message, link_label, href, icon), max_width=READING_MAX_WIDTH)


def _not_for_you() -> rx.Component:
    """What a page shows a signed-in user whose role it is not for, instead of itself."""
    return rx.fragment(
        _heading_row("This page is for " + AppState.page_for),
        _body(
            dead_end(
                "You're signed in as "
                + AppState.user_name
                + ", "
                + AppState.role_name
                + ". Your own pages are in the menu, or start from your home page.",
                "Go to your home page",
                AppState.home,
                icon="lock",
            )
        ),
    )


def page(title, *children, max_width: str = CONTENT_MAX_WIDTH, actions=None) -> rx.Component:
    """A page: navigation, then `title` as the one h1, then the content (or, for a user
    whose role the page is not for, a page that says so)."""
    return rx.box(
        skip_link(),
        navbar(),
        rx.el.main(
            rx.cond(
                AppState.page_for,
                _not_for_you(),
                rx.fragment(_heading_row(title, actions), _body(*children)),
            ),
            id="main",
            max_width=max_width,
            margin_x="auto",
            padding_x=["0.75rem", "1rem", "1.5rem"],
            padding_y=["1rem", "1.5rem", "2rem"],
            width="100%",
        ),
        min_height="100vh",
    )
