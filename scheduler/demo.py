"""``veille demo``: a small bundled news site served on 127.0.0.1, crawled for real.

The site (``scheduler/demo_site``) has an RSS feed, an Atom feed, a robots.txt and
article pages in English, French and Chinese. Feeds are templates: ``{base_url}``
is replaced by the server's address, so the demo works on any free port, offline.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from pathlib import Path

logger = logging.getLogger(__name__)

TEMPLATED_SUFFIXES = {".xml", ".atom", ".json"}
CONTENT_TYPES = {
    ".xml": "application/rss+xml; charset=utf-8",
    ".atom": "application/atom+xml; charset=utf-8",
    ".json": "application/feed+json; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}
DEMO_PORT = 8765


def demo_site_root() -> Path:
    return Path(str(files("scheduler") / "demo_site"))


@dataclass
class DemoSite:
    """A running demo site: its base URL and the paths requested so far."""

    base_url: str
    requests: list[tuple[str, str]] = field(default_factory=list)
    """(path, User-Agent) of every request, in order."""


def _handler(root: Path, site: DemoSite) -> type[BaseHTTPRequestHandler]:
    class DemoRequestHandler(BaseHTTPRequestHandler):
        server_version = "VeilleDemo/0.1"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0].split("#", 1)[0]
            site.requests.append((path, self.headers.get("User-Agent", "")))
            target = (root / path.lstrip("/")).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.is_relative_to(root) or not target.is_file():
                self.send_error(HTTPStatus.NOT_FOUND)
                return
            body = target.read_bytes()
            if target.suffix in TEMPLATED_SUFFIXES:
                body = body.replace(b"{base_url}", site.base_url.encode())
            content_type = CONTENT_TYPES.get(target.suffix) or (
                mimetypes.guess_type(target.name)[0] or "application/octet-stream"
            )
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            logger.debug("demo site: %s", format % args)

    return DemoRequestHandler


@contextmanager
def serve_demo_site(port: int = 0, root: Path | None = None) -> Iterator[DemoSite]:
    """Serve the demo site on 127.0.0.1 (``port`` 0: any free port) for the ``with`` block."""
    root = (root or demo_site_root()).resolve()
    site = DemoSite(base_url="")
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(root, site))
    site.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="demo-site", daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def demo_config_text(base_url: str, database_url: str, user_agent: str | None = None) -> str:
    """The configuration the demo crawls with (the same as ``examples/demo.toml``)."""
    agent = f"user_agent = {json.dumps(user_agent)}\n" if user_agent else ""
    return f"""\
[database]
url = {json.dumps(database_url)}

[crawl]
{agent}download_delay = "0.1s"
autothrottle = false
retry_times = 1
retry_backoff_base = "0.5s"

[[sources]]
id = "demo-world"
name = "Demo Wire — World"
language = "en"
feeds = ["{base_url}/feeds/world.xml"]

[[sources]]
id = "demo-chinese"
name = "演示通讯社"
language = "zh"
feeds = ["{base_url}/feeds/chinese.atom"]
"""
