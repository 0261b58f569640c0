"""Which URL the panel's API answers at, from what an operator typed as PANEL_URL.

Operators type the panel's address (`https://panel.example`), or it with `/api/v2`
(the seed's path) or `/api/v1` (the SmartPanel family's, whose `/api/v2` answers an
HTML 403 page). Each candidate is asked `balance` once: a JSON answer wins, even a
refused key (the API is there); a web page does not. No telegram here: the bot's
start-up, `/connect` and `python -m bot check-panel` all use it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit, urlunsplit

import httpx

from bot.panel.transport import panel_http

# A key no panel has: its "invalid key" answer is JSON all the same.
PROBE_KEY: Final = "endpoint-probe-not-a-key"
TIMEOUT: Final = httpx.Timeout(10.0, connect=5.0)
_API_PATHS: Final = ("/api/v2", "/api/v1")
_USER_AGENT: Final = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/126.0 Safari/537.36"
)

JSON: Final = "JSON"
WEB_PAGE: Final = "web page"
NOT_JSON: Final = "not JSON"
REDIRECT: Final = "redirect"
UNREACHABLE: Final = "unreachable"


@dataclass(frozen=True, slots=True)
class Attempt:
    """One candidate URL asked once, and what came back."""

    url: str
    outcome: str  # JSON, WEB_PAGE, NOT_JSON, REDIRECT or UNREACHABLE
    status_code: int | None = None
    seconds: float = 0.0
    detail: str = ""

    @property
    def answered_json(self) -> bool:
        return self.outcome == JSON

    @property
    def web_page_4xx(self) -> bool:
        return self.outcome == WEB_PAGE and self.status_code is not None and 400 <= self.status_code < 500

    def describe(self) -> str:
        parts = [self.outcome]
        if self.status_code is not None:
            parts.append(f"HTTP {self.status_code}")
        if self.detail:
            parts.append(self.detail)
        return f"{self.url} ({', '.join(parts)})"


def candidates(url: str) -> list[str]:
    """The URLs to try, most likely first: the one typed when it names an API path,
    then the usual API paths beside it; the typed one itself last otherwise."""
    text = url.strip()
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    path = parts.path.rstrip("/")

    def at(new_path: str) -> str:
        return urlunsplit((parts.scheme, parts.netloc, new_path, parts.query, ""))

    found: list[str] = []
    for api in _API_PATHS:
        if path.endswith(api):
            base = path[: -len(api)]
            found = [at(path), *(at(base + other) for other in _API_PATHS)]
            break
    else:
        if path.endswith("/api"):
            found = [at(path), *(at(path[: -len("/api")] + other) for other in _API_PATHS)]
        else:
            found = [*(at(path + api) for api in _API_PATHS), at(path + "/api"), at(path or "/")]
    return list(dict.fromkeys(found))


async def _ask(http: httpx.AsyncClient, url: str, key: str, timeout: httpx.Timeout) -> Attempt:
    started = time.perf_counter()
    try:
        response = await http.post(
            url, data={"key": key, "action": "balance"}, timeout=timeout, follow_redirects=False,
            headers={"User-Agent": _USER_AGENT, "Accept": "application/json"},
        )
    except httpx.HTTPError as exc:
        return Attempt(url, UNREACHABLE, seconds=time.perf_counter() - started, detail=type(exc).__name__)
    seconds = time.perf_counter() - started
    status = response.status_code
    if 300 <= status < 400:
        # Not followed: the key is in the body. The operator can type where it leads.
        where = response.headers.get("Location", "")
        return Attempt(url, REDIRECT, status, seconds, f"to {where}" if where else "")
    try:
        payload = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        page = response.content.lstrip()[:1] == b"<"
        return Attempt(url, WEB_PAGE if page else NOT_JSON, status, seconds)
    if isinstance(payload, (dict, list)):
        return Attempt(url, JSON, status, seconds)
    return Attempt(url, NOT_JSON, status, seconds)


def _cut(limit: httpx.Timeout, left: float) -> httpx.Timeout:
    def cut(value: float | None) -> float:
        return left if value is None else min(value, left)

    return httpx.Timeout(connect=cut(limit.connect), read=cut(limit.read), write=cut(limit.write),
                         pool=cut(limit.pool))


@dataclass(frozen=True, slots=True)
class Discovery:
    """The endpoint that answered JSON (None when none did) and every attempt."""

    typed: str
    endpoint: str | None
    attempts: tuple[Attempt, ...]

    @property
    def web_pages_only(self) -> bool:
        """Every candidate answered a web page with HTTP 4xx: the address leads to a
        site, not to its API. A configuration problem, not an outage."""
        return bool(self.attempts) and all(a.web_page_4xx for a in self.attempts)

    @property
    def misconfigured(self) -> bool:
        """No JSON, yet every candidate answered, none with a server error: web pages,
        redirects, text. Waiting will not help: check PANEL_URL."""
        return self.endpoint is None and _misconfigured(self.attempts)

    def line(self) -> str:
        """One line for the log or the operator."""
        return describe(self.typed, self.endpoint, self.attempts)


def describe(typed: str, endpoint: str | None, tried: Sequence[Attempt]) -> str:
    """One line saying which endpoint is used, or that none answered and what was tried."""
    if endpoint is not None:
        if endpoint == typed.strip().rstrip("/") or len(tried) <= 1:
            return f"Panel API at {endpoint}"
        return f"Panel API at {endpoint} (PANEL_URL {typed!s}; tried {'; '.join(a.describe() for a in tried)})"
    tried_text = "; ".join(a.describe() for a in tried) or "nothing"
    if tried and all(a.web_page_4xx for a in tried):
        return f"The panel answered a web page, check PANEL_URL ({typed}): tried {tried_text}"
    if tried and all(a.outcome == UNREACHABLE for a in tried):
        return f"The panel is not reachable at {typed}: tried {tried_text}"
    if _misconfigured(tried):
        return f"No panel API answered JSON at {typed}, check PANEL_URL: tried {tried_text}"
    return f"No panel API answered JSON at {typed} (server errors or no answer: down?): tried {tried_text}"


def _misconfigured(tried: Sequence[Attempt]) -> bool:
    return bool(tried) and all(
        a.outcome != UNREACHABLE and a.outcome != JSON and not (a.status_code is not None and (
            a.status_code >= 500 or a.status_code == 429)) for a in tried)


async def discover(
    url: str, key: str | None = None, *, http: httpx.AsyncClient | None = None,
    timeout: httpx.Timeout | float = TIMEOUT, seconds: float | None = None,
) -> Discovery:
    """Ask each candidate `balance` until one answers JSON. `key` may be the real key
    (harmless: `balance` reads) or None for a dummy one. `seconds`: the whole search
    ends within about this (each candidate's timeout cut to what is left)."""
    own = http is None
    client = http or panel_http(connections=2)
    limit = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
    ends = None if seconds is None else time.monotonic() + seconds
    attempts: list[Attempt] = []
    try:
        for candidate in candidates(url):
            if ends is not None:
                left = ends - time.monotonic()
                if left <= 0.05:
                    break
                limit = _cut(limit, left)
            attempt = await _ask(client, candidate, key or PROBE_KEY, limit)
            attempts.append(attempt)
            if attempt.answered_json:
                return Discovery(url, candidate, tuple(attempts))
            if attempt.outcome == UNREACHABLE and len(attempts) == 1 and attempt.detail in (
                    "ConnectError", "ConnectTimeout"):
                break  # the host itself does not answer: other paths will not either
    finally:
        if own:
            await client.aclose()
    return Discovery(url, None, tuple(attempts))


async def resolve_panel_url(
    settings_url: str, key: str | None = None, *, http: httpx.AsyncClient | None = None,
    timeout: httpx.Timeout | float = TIMEOUT, seconds: float | None = None,
) -> tuple[str, tuple[Attempt, ...]]:
    """The URL to use for PANEL_URL, and what was tried: the endpoint that answered
    JSON, or `settings_url` unchanged when none did (then `describe(settings_url, None,
    tried)` is the line to log; `all(a.web_page_4xx for a in tried)` means "check
    PANEL_URL", not "try later"). Never raises for a panel's answer."""
    found = await discover(settings_url, key, http=http, timeout=timeout, seconds=seconds)
    return (found.endpoint or settings_url, found.attempts)
