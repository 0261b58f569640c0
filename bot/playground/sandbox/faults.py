"""Switchable faults for the sandbox panel, per action: latency, hangs, 5xx pages, CDN
HTML pages, malformed JSON, rate limits and forced panel errors."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, replace

ACTIONS = frozenset({"services", "add", "status", "refill", "refill_status", "cancel", "balance"})
ANY = "*"

CLI_SYNTAX = """\
fault SPEC is ACTION=KIND[@N]; ACTION is one of services, add, status, refill,
refill_status, cancel, balance, or * for every action; @N applies the fault to the next
N requests only. KIND is one of:
  hang              never answer (released when the sandbox stops)
  latency:SECONDS   answer after a delay, e.g. balance=latency:0.5
  NNN | http:NNN    HTTP error status with an HTML page, e.g. status=502
  html              HTTP 200 with a CDN's HTML page instead of JSON
  malformed         HTTP 200 with truncated JSON
  rate_limit:SECS   HTTP 429 with Retry-After, e.g. add=rate_limit:2 (also 429:SECS)
  error:TEXT        a forced {"error": TEXT}, e.g. "add=error:Not enough funds on balance"
Repeat --fault to combine kinds for one action (latency with another kind).
On add/refill/cancel, hang, NNN, html and malformed act AFTER the panel has done the
work (the order exists, the reply is lost); rate_limit and error act BEFORE it."""


@dataclass(frozen=True, slots=True)
class Fault:
    """What to do to the requests of one action. `times` None means until cleared."""

    hang: bool = False
    latency: float = 0.0
    http_status: int | None = None
    malformed: bool = False
    html: bool = False
    rate_limit: float | None = None
    error: str | None = None
    times: int | None = None

    @property
    def before_action(self) -> bool:
        """Refused before the panel acts on the request (nothing is created)."""
        return self.rate_limit is not None or self.error is not None

    @property
    def breaks_reply(self) -> bool:
        """The panel acts, and then the reply is lost or unusable."""
        return self.hang or self.http_status is not None or self.malformed or self.html

    def describe(self) -> str:
        parts = []
        if self.latency:
            parts.append(f"latency {self.latency:g}s")
        if self.rate_limit is not None:
            parts.append(f"HTTP 429 (Retry-After {self.rate_limit:g})")
        if self.error is not None:
            parts.append(f"error {self.error!r}")
        if self.hang:
            parts.append("hang")
        if self.http_status is not None:
            parts.append(f"HTTP {self.http_status}")
        if self.html:
            parts.append("HTML page")
        if self.malformed:
            parts.append("malformed JSON")
        text = ", ".join(parts)
        return f"{text} (next {self.times})" if self.times is not None else text


class Faults:
    """The fault table of one sandbox. Set from tests (`set`) or the CLI (`parse`)."""

    def __init__(self) -> None:
        self._rules: dict[str, Fault] = {}
        self._release: asyncio.Event | None = None

    def set(
        self,
        action: str,
        *,
        hang: bool = False,
        latency: float = 0.0,
        http_status: int | None = None,
        malformed: bool = False,
        html: bool = False,
        rate_limit: float | None = None,
        error: str | None = None,
        times: int | None = None,
    ) -> None:
        """Replace the fault of `action` ("add", ..., or "*" for all actions)."""
        _check_action(action)
        fault = Fault(hang, float(latency), http_status, malformed, html, rate_limit, error, times)
        if not (fault.before_action or fault.breaks_reply or fault.latency > 0):
            raise ValueError("Faults.set needs at least one fault kind")
        if http_status is not None and not 100 <= http_status <= 599:
            raise ValueError(f"not an HTTP status: {http_status}")
        if times is not None and times < 1:
            raise ValueError("times must be at least 1")
        self._rules[action] = fault

    def clear(self, action: str | None = None) -> None:
        """Remove one action's fault, or all of them; hung requests are released."""
        if action is None:
            self._rules.clear()
        else:
            self._rules.pop(action, None)
        self.release_hung()

    def get(self, action: str) -> Fault | None:
        """The fault in force for `action`, without using up one of its `times`."""
        return self._rules.get(action) or self._rules.get(ANY)

    def take(self, action: str) -> Fault | None:
        """The fault to apply to one request of `action`, counting down `times`."""
        key = action if action in self._rules else ANY
        fault = self._rules.get(key)
        if fault is None:
            return None
        if fault.times is not None:
            if fault.times <= 1:
                del self._rules[key]
            else:
                self._rules[key] = replace(fault, times=fault.times - 1)
        return fault

    def __bool__(self) -> bool:
        return bool(self._rules)

    def describe(self) -> str:
        """One line for people, e.g. `add: hang; status: HTTP 502 (next 3)`."""
        return "; ".join(f"{action}: {fault.describe()}" for action, fault in self._rules.items()) or "none"

    def __repr__(self) -> str:
        return f"Faults({self.describe()})"

    # --- hanging ---------------------------------------------------------------------

    async def wait_released(self) -> None:
        """Block one hung request until `release_hung` (called by `clear` and on stop)."""
        if self._release is None:
            self._release = asyncio.Event()
        await self._release.wait()

    def release_hung(self) -> None:
        if self._release is not None:
            self._release.set()
            self._release = None

    # --- command line ----------------------------------------------------------------

    def parse(self, spec: str) -> None:
        """Add one `ACTION=KIND[:ARG][@N]` spec (see CLI_SYNTAX), merged with any
        fault already set for that action."""
        action, sep, rest = spec.partition("=")
        action = action.strip()
        if not sep or not rest:
            raise ValueError(f"fault {spec!r}: expected ACTION=KIND")
        _check_action(action)
        times: int | None = None
        counted = re.fullmatch(r"(.*)@(\d+)", rest, re.DOTALL)
        if counted:
            rest, times = counted.group(1), int(counted.group(2))
        kind, _, arg = rest.partition(":")
        kind = kind.strip().lower()
        current = self._rules.get(action, Fault())
        try:
            if kind == "hang":
                fault = replace(current, hang=True)
            elif kind == "latency":
                fault = replace(current, latency=float(arg))
            elif kind == "html":
                fault = replace(current, html=True)
            elif kind == "malformed":
                fault = replace(current, malformed=True)
            elif kind in ("rate_limit", "429"):
                fault = replace(current, rate_limit=float(arg or "1"))
            elif kind == "error":
                if not arg:
                    raise ValueError("error needs a text")
                fault = replace(current, error=arg)
            elif kind == "http" or kind.isdigit():
                fault = replace(current, http_status=int(arg if kind == "http" else kind))
            else:
                raise ValueError(f"unknown kind {kind!r}")
        except ValueError as exc:
            raise ValueError(f"fault {spec!r}: {exc}") from None
        if times is not None:
            fault = replace(fault, times=times)
        self.set(
            action,
            hang=fault.hang,
            latency=fault.latency,
            http_status=fault.http_status,
            malformed=fault.malformed,
            html=fault.html,
            rate_limit=fault.rate_limit,
            error=fault.error,
            times=fault.times,
        )


def _check_action(action: str) -> None:
    # A typo in a test's fault would otherwise silently test nothing.
    if action != ANY and action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; one of {sorted(ACTIONS)} or '*'")


# --- the bodies faulty replies carry ----------------------------------------------------

_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    520: "Web server is returning an unknown error",
    521: "Web server is down",
    522: "Connection timed out",
    524: "A timeout occurred",
}


def error_page(status: int) -> str:
    """The HTML page a web server or proxy sends with a 4xx/5xx status."""
    title = f"{status} {_REASONS.get(status, 'Error')}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    )


CDN_PAGE = """<!DOCTYPE html>
<html lang="en-US">
<head>
<title>Just a moment...</title>
<meta http-equiv="Content-Type" content="text/html; charset=UTF-8">
<meta name="robots" content="noindex,nofollow">
</head>
<body>
<div class="main-wrapper" role="main">
<div class="main-content">
<h1>Checking if the site connection is secure</h1>
<p>The panel needs to review the security of your connection before proceeding.</p>
</div>
</div>
</body>
</html>
"""


def truncate(body: str) -> str:
    """A JSON text cut short: every proper prefix of an object or array is invalid."""
    return body[: max(1, len(body) // 2)]
