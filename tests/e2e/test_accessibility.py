"""Every page passes axe-core's WCAG 2 A/AA checks with no serious or critical violation:
labels, names, contrast, landmarks, headings. axe-core comes from the npm registry
(tests/audit)."""

from pathlib import Path

import pytest

from tests.conftest import skip_or_fail
from tests.e2e.app import DemoApi

AXE = Path(__file__).resolve().parents[1] / "audit" / "node_modules" / "axe-core" / "axe.min.js"

PAGES = {
    None: ["/login", "/no-such-page"],
    "student": ["/practice", "/history", "/admin"],  # /admin: "This page is for admins"
    "teacher": ["/profiles", "/profiles/new", "/sections", "/assignments", "/sessions", "/insight"],
    "admin": [
        "/admin",
        "/admin/errors",
        "/admin/budgets",
        "/admin/users",
        "/admin/api-keys",
        "/admin/audit",
    ],
}
CASES = [(who, path) for who, paths in PAGES.items() for path in paths]


def axe_violations(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "() => axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa']}})"
    )
    return [
        f"{v['impact']}: {v['id']} ({v['help']}) at {[n['html'][:100] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
@pytest.mark.parametrize(("who", "path"), CASES, ids=[p for _, p in CASES])
def test_page_has_no_serious_accessibility_violations(open_page, app_url, who, path, phone):
    if not AXE.exists():
        skip_or_fail("axe-core is not installed (npm ci --prefix tests/audit)")
    page = open_page(who, phone=phone)
    page.goto(f"{app_url}{path}")
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(500)  # the page's own data has arrived
    assert axe_violations(page) == []


def test_the_chat_page_has_no_serious_accessibility_violations(open_page, app_url):
    session_id = DemoApi.signed_in(app_url, "student").start_session()
    page = open_page("student")
    page.goto(f"{app_url}/practice/{session_id}")
    page.get_by_role("textbox").first.wait_for()
    assert axe_violations(page) == []
