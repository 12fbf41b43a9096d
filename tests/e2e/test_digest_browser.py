"""The HTML digest as a reader sees it: opened in headless Chromium, on a desktop and a phone.

Uses Debian's ``chromium`` (``/usr/bin/chromium``, installed by ``.ci/run``) driven by
Playwright, which downloads no browser of its own here. The page is the golden files'
fixture day (:mod:`tests.scheduler.test_digest_render`). Screenshots are left in the test's
temporary folder (``--basetemp`` keeps them where you want to look at them).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scheduler.digest_model import DailyDigest, build_daily_digest
from scheduler.digest_render import render_html, safe_url
from storage.database import make_session_factory, open_database
from tests.scheduler.test_digest_render import (
    DAY,
    LABELS,
    TIMEZONE,
    WATCH,
    fill_fixture_day,
    hostile_digest,
)

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        f"Debian's chromium is not installed at {CHROMIUM} (.ci/run installs it: "
        "apt-get install chromium)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package (test extras) is not installed"
)

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def browser() -> Iterator[sync_api.Browser]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield browser
        browser.close()


@pytest.fixture
def fixture_page(sqlite_url: str, tmp_path: Path) -> tuple[DailyDigest, Path]:
    engine = open_database(sqlite_url)
    sessions = make_session_factory(engine)
    fill_fixture_day(sessions)
    with sessions() as session:
        digest = build_daily_digest(session, DAY, TIMEZONE, labels=LABELS, watch=WATCH)
    engine.dispose()
    page = tmp_path / "digest.html"
    page.write_text(render_html(digest), encoding="utf-8")
    return digest, page


class Visit:
    """A page opened at one viewport size, with every request and dialog it made."""

    def __init__(self, browser: sync_api.Browser, path: Path, viewport: dict[str, int]) -> None:
        phone = viewport["width"] < 600
        self.context = browser.new_context(
            viewport=viewport, is_mobile=phone, has_touch=phone,
            device_scale_factor=2 if phone else 1, java_script_enabled=True,
        )  # fmt: skip
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message),
                                               dialog.dismiss()))  # fmt: skip
        self.page.goto(path.as_uri(), wait_until="load")

    def overflow(self) -> int:
        """How many pixels the page is wider than the viewport (0: no sideways scrolling)."""
        return int(self.page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        ))  # fmt: skip

    def close(self) -> None:
        self.context.close()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_every_initiative_and_story_link_is_visible_and_nothing_is_fetched(
    browser: sync_api.Browser,
    fixture_page: tuple[DailyDigest, Path],
    viewport: dict[str, int],
    tmp_path: Path,
) -> None:
    digest, path = fixture_page
    visit = Visit(browser, path, viewport)
    try:
        name = "phone" if viewport is PHONE else "desktop"
        shot = tmp_path / f"digest-{name}.png"
        visit.page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000  # a rendered page, not a blank one

        page = visit.page
        for section in digest.sections:
            heading = page.get_by_role("heading", level=2, name=section.label, exact=True)
            assert heading.is_visible(), section.label
        assert page.get_by_role("heading", level=2, name="Sources", exact=True).is_visible()

        expected = {
            url
            for section in digest.sections
            for story in section.stories + section.known
            for url in [story.url, *(m.url for m in story.members if len(story.members) > 1)]
            if safe_url(url)
        }
        links = page.locator("a")
        hrefs = {links.nth(n).get_attribute("href") for n in range(links.count())}
        assert hrefs == expected
        for n in range(links.count()):
            link = links.nth(n)
            assert link.is_visible(), link.get_attribute("href")
            box = link.bounding_box()
            assert box is not None and box["x"] >= 0
            assert box["x"] + box["width"] <= viewport["width"] + 1, link.get_attribute("href")

        trend = page.get_by_role("img", name="Relevant articles per day", exact=False).first
        assert trend.is_visible()
        assert visit.overflow() == 0
        assert visit.requests == [path.as_uri()]  # no font, image, style or script fetched
        assert visit.dialogs == []
    finally:
        visit.close()


def test_hostile_strings_stay_text_in_the_browser(
    browser: sync_api.Browser, tmp_path: Path
) -> None:
    """No script runs, no link leads anywhere but http(s), and long strings wrap on a phone."""
    path = tmp_path / "hostile.html"
    path.write_text(render_html(hostile_digest()), encoding="utf-8")
    visit = Visit(browser, path, PHONE)
    try:
        visit.page.screenshot(path=str(tmp_path / "hostile-phone.png"), full_page=True)
        assert visit.dialogs == []
        assert visit.requests == [path.as_uri()]
        assert visit.page.locator("script, img, iframe, object, embed").count() == 0
        hrefs = visit.page.eval_on_selector_all("a", "links => links.map(a => a.href)")
        assert hrefs and all(href.startswith(("http://", "https://")) for href in hrefs)
        assert "<script>alert(1)</script>" in visit.page.inner_text("main")
        assert visit.overflow() == 0
    finally:
        visit.close()
