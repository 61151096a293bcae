"""The config sections served over HTTP: webhooks, api, web and kb. Declared with
`setting(...)` like every key (see model.py); `Config` holds them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from yaml.nodes import Node

from maildesk.config import fields as f
from maildesk.config.values import parse_duration, show_duration
from maildesk.config.walker import Walker

__all__ = ["WEBHOOK_EVENTS", "Api", "Kb", "Web", "Webhook"]


def _rate(value: object) -> float:
    number = float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else float("nan")
    if not number > 0:
        raise ValueError(f"not a positive number of requests per second: {value!r}")
    return number


WEBHOOK_EVENTS = ("ticket.created", "article.added", "ticket.state", "ticket.queue",
                  "ticket.escalated")


def _webhook_url(value: object) -> str:
    text = str(value).strip() if isinstance(value, str) else ""
    if not re.fullmatch(r"https?://[^\s/?#]+[^\s]*", text):
        raise ValueError(f"not an http:// or https:// URL: {value!r}")
    return text


def _webhook_events(w: Walker, node: Node, where: str) -> tuple[str, ...]:
    found = w.names(node, where)
    for name, item in found:
        if name not in WEBHOOK_EVENTS:
            w.problem(item, f"{where}: unknown event {name!r} ({', '.join(WEBHOOK_EVENTS)})")
    return tuple(dict.fromkeys(n for n, _ in found if n in WEBHOOK_EVENTS))


@dataclass(frozen=True)
class Webhook:
    """An HTTP receiver of ticket events (SPEC 14), POSTed through the outbox."""

    url: str = f.setting(read=f.parsed(_webhook_url), doc="where events are POSTed")
    secret_file: Path = f.setting(
        read=f.path, doc="the HMAC-SHA256 key of X-Maildesk-Signature (first line)"
    )
    events: tuple[str, ...] = f.setting(
        WEBHOOK_EVENTS, read=_webhook_events, doc="which events (default: all five)"
    )


@dataclass(frozen=True)
class Api:
    """The HTTP API of `listen.http` (SPEC 14)."""

    rate_limit: float = f.setting(
        50.0, read=f.parsed(_rate), doc="requests per second per token, on average (429 past it)"
    )
    burst: int = f.setting(100, read=f.integer(1), doc="requests one token may make at once")


@dataclass(frozen=True)
class Web:
    """The web pages of `listen.http` (SPEC 15) and the links mails carry to them."""

    base_url: str | None = f.setting(
        None, read=f.parsed(_webhook_url), doc="the public address of the web pages, for links"
    )
    title: str = f.setting("maildesk", read=f.text(), doc="the name on every page and mail")
    logo: Path | None = f.setting(None, read=f.path, doc="an image shown on every page")
    session_idle: float = f.setting(
        3600.0, read=f.parsed(parse_duration, show_duration),
        doc="a signed-in browser unused this long is signed out (besides the 12 h lifetime)",
    )
    password_failures: int = f.setting(
        5, read=f.integer(1, 1000),
        doc="a customer's wrong passwords in a row before the account is locked",
    )
    password_lockout: float = f.setting(
        900.0, read=f.parsed(parse_duration, show_duration),
        doc="how long such an account is locked (wrong passwords meanwhile do not extend it)",
    )


def _score(value: object) -> float:
    number = float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else float("nan")
    if not number >= 0:
        raise ValueError(f"not a score (a number, 0 or more): {value!r}")
    return number


@dataclass(frozen=True)
class Kb:
    """The knowledge base (SPEC 18, maildesk.kb): answers offered in auto-responses."""

    path: Path | None = f.setting(
        None, read=f.path, doc="a folder of Markdown entries with a front matter; unset: none"
    )
    min_score: float = f.setting(
        2.3, read=f.parsed(_score),
        doc="the BM25 score an entry needs to be offered (bench/README.md: how it was chosen)",
    )
    suggestions: int = f.setting(
        3, read=f.integer(0, 10), doc="at most this many entries in an auto-response (0: none)"
    )
