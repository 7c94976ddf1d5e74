"""A local SMTP sink (aiosmtpd) that keeps what it receives, with a small web page listing the mails.

Tests start it in-process (`MailSink().start()`); README command 1 runs it as a background process:
`python -m devstack.smtp_sink --smtp-port 1025 --web-port 8025`.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import html
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from aiosmtpd.controller import Controller


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    subject: str
    body: str
    received_at: float


@dataclass
class MailSink:
    host: str = "127.0.0.1"
    port: int = 0  # 0: pick a free port
    mails: list[Mail] = field(default_factory=list)
    store: Path | None = None  # JSON-lines file so mails survive a restart of the sink

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._controller: Controller | None = None
        if self.store and self.store.exists():
            self.mails = [Mail(**json.loads(line)) for line in self.store.read_text().splitlines() if line]

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler hook
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        part = msg.get_body(preferencelist=("plain", "html"))
        mail = Mail(envelope.mail_from, list(envelope.rcpt_tos), str(msg["Subject"] or ""),
                    part.get_content() if part else "", time.time())
        with self._lock:
            self.mails.append(mail)
            if self.store:
                with self.store.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(mail.__dict__, ensure_ascii=False) + "\n")
        return "250 Message accepted"

    def start(self) -> MailSink:
        if self.port == 0:
            import socket
            with socket.socket() as s:
                s.bind((self.host, 0))
                self.port = s.getsockname()[1]
        self._controller = Controller(self, hostname=self.host, port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller:
            self._controller.stop()

    def to(self, recipient: str) -> list[Mail]:
        with self._lock:
            return [m for m in self.mails if recipient in m.recipients]

    def clear(self) -> None:
        with self._lock:
            self.mails.clear()


def _web(sink: MailSink, port: int) -> ThreadingHTTPServer:
    class Page(BaseHTTPRequestHandler):
        def do_GET(self):
            with sink._lock:
                mails = list(reversed(sink.mails))
            if self.path.startswith("/api/mails"):
                body = json.dumps([m.__dict__ for m in mails], ensure_ascii=False).encode()
                ctype = "application/json"
            else:
                rows = "".join(
                    f"<article><h2>{html.escape(m.subject)}</h2><p>À : {html.escape(', '.join(m.recipients))} — "
                    f"{time.strftime('%d/%m/%Y %H:%M:%S', time.localtime(m.received_at))}</p>"
                    f"<pre>{html.escape(m.body)}</pre></article>" for m in mails) or "<p>Aucun courriel reçu.</p>"
                body = (f"<!doctype html><html lang='fr'><head><meta charset='utf-8'><title>Courriels reçus</title>"
                        f"<meta http-equiv='refresh' content='10'></head><body><main><h1>Courriels reçus "
                        f"({len(mails)})</h1>{rows}</main></body></html>").encode()
                ctype = "text/html; charset=utf-8"
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    return ThreadingHTTPServer(("127.0.0.1", port), Page)


def main() -> None:
    p = argparse.ArgumentParser(description="local SMTP sink with a web page")
    p.add_argument("--smtp-port", type=int, default=1025)
    p.add_argument("--web-port", type=int, default=8025)
    p.add_argument("--store", type=Path, help="JSON-lines file keeping the mails across restarts")
    a = p.parse_args()
    sink = MailSink(port=a.smtp_port, store=a.store).start()
    print(f"SMTP sink on 127.0.0.1:{a.smtp_port}, mails at http://localhost:{a.web_port}/", flush=True)
    try:
        _web(sink, a.web_port).serve_forever()
    finally:
        sink.stop()


if __name__ == "__main__":
    main()
