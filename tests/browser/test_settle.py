"""The suite's own clicks: one that navigates returns with the new page loaded, whatever the machine's speed.
A server that answers a form slowly and sends its page in two parts stands for a loaded CI machine."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import Page

from tests.browser import settle

FORM = b"""<!doctype html><html lang="fr"><body><main>
<form method="post" action="/lent"><button>Envoyer</button></form>
<input type="checkbox" id="case"> <a id="export" href="/export.csv">Exporter</a>
</main></body></html>"""


class _Slow(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes = b"", **headers: str) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k.replace("_", "-"), v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/export.csv":
            self._send(200, b"a;b\n1;2\n", Content_Type="text/csv", Content_Disposition="attachment; filename=x.csv")
        elif self.path == "/fait":
            head = b"<!doctype html><html lang='fr'><body><main><h1>Fait</h1>"
            tail = b"<p id='tard'>Convention active</p></main></body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(head) + len(tail)))
            self.end_headers()
            self.wfile.write(head)
            self.wfile.flush()
            time.sleep(0.8)  # the page's end arrives late: `main` exists before its content does
            self.wfile.write(tail)
        else:
            self._send(200, FORM, Content_Type="text/html; charset=utf-8")

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(0.8)  # the server is slow to answer: the old page is still shown
        self._send(303, Location="/fait")


@pytest.fixture(scope="module")
def slow_site():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_a_click_that_submits_a_form_returns_with_the_next_page_loaded(slow_site, new_page):
    page = new_page()
    page.goto(slow_site + "/")
    page.click("button")
    assert page.url == slow_site + "/fait"
    assert page.query_selector("#tard") is not None
    page.goto(slow_site + "/")
    page.locator("button").click()  # a locator's click too
    assert page.inner_text("main").endswith("Convention active")


def test_without_the_wait_the_same_read_sees_the_wrong_page(slow_site, new_page):
    """The control: Playwright's own click, read at once, misses the content — the race the wait closes."""
    page = new_page()
    page.goto(slow_site + "/")
    Page.click.__wrapped__(page, "button")  # type: ignore[attr-defined]
    assert page.query_selector("#tard") is None
    page.wait_for_url(slow_site + "/fait")


def test_a_click_that_navigates_nowhere_or_downloads_returns_at_once(slow_site, new_page):
    page = new_page()
    page.goto(slow_site + "/")
    before = settle.watch(page).started
    page.click("#case")
    assert page.is_checked("#case") and settle.watch(page).started == before
    with page.expect_download() as download:
        page.click("#export")  # a download ends the navigation: no 20-second wait, no error
    assert download.value.suggested_filename == "x.csv"
    assert page.url == slow_site + "/"
