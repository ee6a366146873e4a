"""The written reports render in headless Chromium with no console error and no request beyond the page itself.

The page is served by a tiny local HTTP server that is also Chromium's proxy for every URL (loopback included,
``--proxy-bypass-list=<-loopback>``), so it records each request the page makes: same-host paths and external
hosts alike (an https URL shows up as a ``CONNECT host:443``, refused, so nothing leaves the machine).
Chromium itself still calls a few Google service hosts in the background whatever its flags; those are told
apart by host, and a static scan of the HTML makes sure the report references no such host itself. Console
messages and uncaught exceptions are read from Chromium's ``--enable-logging=stderr`` log. A deliberately
broken page checks that this detection works.
"""

from __future__ import annotations

import http.server
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from smtp_fixtures import demo_estate

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser")
#: Hosts Chromium contacts on its own (component updates, sign-in, network time), never a report's.
BROWSER_SERVICE_HOSTS = re.compile(
    r"(^|\.)(google\.com|googleapis\.com|gstatic\.com|gvt1\.com|googleusercontent\.com)$")
#: Chromium asks for this by itself.
BROWSER_PATHS = {"/favicon.ico"}
MIN_PNG_BYTES = 10_000


def chromium() -> str:
    for candidate in CHROMIUM_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    if os.geteuid() == 0 and os.environ.get("CI") == "true":
        subprocess.run(["apt-get", "update"], check=False, capture_output=True, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "chromium"], check=False, capture_output=True, timeout=1200)
        for candidate in CHROMIUM_CANDIDATES:
            found = shutil.which(candidate)
            if found:
                return found
        pytest.skip("chromium is not installed and `apt-get install -y chromium` did not provide it")
    pytest.skip("chromium is not installed (/usr/bin/chromium); it is installed automatically only when "
                "running as root with CI=true")


@dataclass
class Recorder:
    folder: Path
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, request target)
    port: int = 0

    def handler(self):
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _serve(self) -> None:
                recorder.requests.append((self.command, self.path))
                local = re.sub(rf"^http://(127\.0\.0\.1|localhost):{recorder.port}", "", self.path)
                target = recorder.folder / local.lstrip("/")
                if local.startswith("/") and local.endswith(".html") and target.is_file():
                    data = target.read_bytes()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                else:
                    data = b""
                    self.send_response(404)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_HEAD = do_POST = _serve  # noqa: N815 - http.server's names

            def do_CONNECT(self) -> None:  # noqa: N802 - http.server's name
                recorder.requests.append(("CONNECT", self.path))
                self.send_response(403)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        return Handler


@contextmanager
def serving(folder: Path) -> Iterator[Recorder]:
    recorder = Recorder(folder)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), recorder.handler())
    recorder.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Render:
    png: Path
    log: str
    requests: list[tuple[str, str]]
    port: int

    def console_errors(self) -> list[str]:
        return [line for line in self.log.splitlines()
                if re.search(r":CONSOLE[:(]", line) or "Uncaught" in line]

    def page_requests(self, page: str) -> list[str]:
        """Requests other than the page itself, Chromium's own favicon probe and its background services."""
        extra = []
        for method, target in self.requests:
            if method == "CONNECT":
                host = target.rsplit(":", 1)[0]
                if not BROWSER_SERVICE_HOSTS.search(host):
                    extra.append(f"CONNECT {target}")
                continue
            match = re.match(r"^(?:http://([^/:]+)(?::(\d+))?)?(/[^?]*)", target)
            host, port, path = match.groups() if match else (None, None, target)
            if host is None or (host in ("127.0.0.1", "localhost") and port == str(self.port)):
                if path != f"/{page}" and path not in BROWSER_PATHS:
                    extra.append(f"{method} {target}")
            elif not BROWSER_SERVICE_HOSTS.search(host):
                extra.append(f"{method} {target}")
        return extra


def render(folder: Path, page: str, out: Path) -> Render:
    binary = chromium()
    profile = out.parent / f"profile-{out.stem}"
    with serving(folder) as recorder:
        command = [
            binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-default-apps", "--disable-extensions", "--no-default-browser-check",
            f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
            f"--proxy-server=http://127.0.0.1:{recorder.port}", "--proxy-bypass-list=<-loopback>",
            "--hide-scrollbars", f"--screenshot={out}", "--window-size=1200,2000",
            f"http://127.0.0.1:{recorder.port}/{page}",
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
        requests = list(recorder.requests)
    assert done.returncode == 0, done.stderr[-2000:]
    return Render(out, done.stderr, requests, recorder.port)


def external_references(html: str) -> list[str]:
    """URLs the page would load by itself (not links a reader may click)."""
    found = re.findall(r"""\s(?:src|srcset|background|poster|data)\s*=\s*["']?\s*((?:https?:)?//[^"'\s>]+)""", html,
                       re.IGNORECASE)
    found += re.findall(r"""<link\b[^>]*\bhref\s*=\s*["']?((?:https?:)?//[^"'\s>]+)""", html, re.IGNORECASE)
    found += re.findall(r"""url\(\s*["']?((?:https?:)?//[^"')\s]+)""", html, re.IGNORECASE)
    found += re.findall(r"@import\s+[\"']?((?:https?:)?//[^\"';\s]+)", html, re.IGNORECASE)
    return found


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> Path:
    return demo_estate(tmp_path_factory).report_dir


@pytest.mark.parametrize("page", ["coverage.html", "licensing.html"])
def test_report_renders_without_errors_or_requests(reports, page, tmp_path):
    if not (reports / page).exists():
        pytest.skip(f"{page} is not written by reports.publish yet")
    html = (reports / page).read_text(encoding="utf-8")
    assert external_references(html) == []
    assert "<script" not in html.lower()
    result = render(reports, page, tmp_path / f"{page}.png")
    assert result.console_errors() == []
    assert any(target.endswith(f"/{page}") for _, target in result.requests)  # the proxy did see the page
    assert result.page_requests(page) == []
    assert result.png.is_file() and result.png.stat().st_size > MIN_PNG_BYTES


def test_the_checks_catch_errors_and_requests(tmp_path):
    (tmp_path / "broken.html").write_text(
        "<!DOCTYPE html><html><body><h1>broken</h1>"
        '<img src="https://cdn.example.net/pixel.png"><img src="/tracker.png">'
        "<script>notDefined();</script></body></html>", encoding="utf-8")
    assert external_references((tmp_path / "broken.html").read_text()) == ["https://cdn.example.net/pixel.png"]
    result = render(tmp_path, "broken.html", tmp_path / "broken.png")
    assert any("notDefined" in line for line in result.console_errors())
    extra = result.page_requests("broken.html")
    assert "CONNECT cdn.example.net:443" in extra
    assert any(r.endswith("/tracker.png") for r in extra)
