"""`python -m sso_demo`: the portal, CDAP and AFAS, each on the port of its configured URL (one process,
three servers, three cookies)."""

from __future__ import annotations

import threading
from urllib.parse import urlparse

from werkzeug.serving import make_server

from provisioning import logs
from provisioning.production import dev_server
from sso_demo import afas, cdap, portal
from sso_demo.config import AppConfig


def servers(host: str = "127.0.0.1"):
    out = []
    for client_id, factory in (("portail", portal.create_app), ("cdap", cdap.create_app), ("afas", afas.create_app)):
        cfg = AppConfig.from_env(client_id)
        port = urlparse(cfg.base_url).port
        if port is None:
            raise SystemExit(f"MCP_{client_id.upper()}_URL must name a port to listen on: {cfg.base_url}")
        out.append(make_server(host, port, factory(cfg), threaded=True))
    return out


def main() -> None:
    logs.configure("applications")
    for client_id in ("portail", "cdap", "afas"):
        AppConfig.from_env(client_id)  # in production, the settings are refused first, all listed
    dev_server("python -m sso_demo", "sso_demo.wsgi:portail")
    srv = servers()
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in srv]
    for t in threads:
        t.start()
    print("portail, cdap, afas: " + ", ".join(f"http://localhost:{s.server_port}/" for s in srv), flush=True)
    try:
        for t in threads:
            t.join()
    except KeyboardInterrupt:
        for s in srv:
            s.shutdown()


if __name__ == "__main__":
    main()
