"""A click that navigates returns once the new page has loaded.

Playwright's `click` returns when a navigation it started has *begun*: the old page may still be there (a POST
the server is still answering) or the new one half parsed (`main` present, its sections not yet). A test that
reads right after then reads the wrong page — two CI failures on a slower machine came from exactly that. Rather
than remember `expect_navigation` at some 130 clicks, every page counts its main-frame navigation requests and
its loads, and `click` (page or locator) waits until the latest navigation has loaded, failed, or become a download.
"""

from __future__ import annotations

import time

from playwright.sync_api import Locator, Page

WAIT_SECONDS = 20.0


class _Loads:
    def __init__(self, page: Page) -> None:
        self.started = 0
        self.settled = 0
        page.on("request", self._request)
        page.on("requestfailed", self._failed)
        page.on("load", self._settle)
        page.on("download", self._settle)
        self._main = page.main_frame

    def _request(self, request) -> None:
        if request.is_navigation_request() and request.frame == self._main:
            self.started += 1

    def _failed(self, request) -> None:
        if request.is_navigation_request() and request.frame == self._main:
            self._settle()

    def _settle(self, *_: object) -> None:
        self.settled = self.started


def watch(page: Page) -> _Loads:
    loads = getattr(page, "_mcp_loads", None)
    if loads is None:
        loads = _Loads(page)
        page._mcp_loads = loads  # type: ignore[attr-defined]
    return loads


def wait_for_navigation_after(page: Page, started_before: int) -> None:
    loads = watch(page)
    if loads.started == started_before:
        return  # the click navigated nowhere (a checkbox, a script)
    deadline = time.monotonic() + WAIT_SECONDS
    while loads.settled < loads.started:
        if time.monotonic() > deadline:
            raise AssertionError(f"the page did not finish loading {WAIT_SECONDS:.0f} s after the click: {page.url}")
        page.wait_for_timeout(20)  # lets Playwright deliver the page's events


def _settling(click):
    def settled_click(self, *args, **kwargs):
        page = self if isinstance(self, Page) else self.page
        before = watch(page).started
        result = click(self, *args, **kwargs)
        wait_for_navigation_after(page, before)
        return result
    settled_click.__wrapped__ = click  # type: ignore[attr-defined]
    return settled_click


def install() -> None:
    """Once per test session, before any page is made."""
    for cls in (Page, Locator):
        if not hasattr(cls.click, "__wrapped__"):
            cls.click = _settling(cls.click)  # type: ignore[method-assign]
