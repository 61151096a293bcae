"""Deliver claimed webhook rows for the outbox sender: one POST each, signed.

`X-Maildesk-Signature: sha256=<hex HMAC-SHA256 of the body with the webhook's secret>`,
`X-Maildesk-Event`, `X-Maildesk-Delivery` (the same on every retry: deduplicate on it).
2xx is delivered; 410 Gone fails for good; anything else (no answer, 5xx, 4xx) is retried
with the outbox's backoff until `outbound.give_up_after`. The secret is read at send
time, so a rotated secret applies to retries too.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from typing import Protocol

import httpx

from maildesk.config import Config
from maildesk.outbound.outbox import AttemptResult, Claimed

__all__ = ["HasConfig", "post_webhooks", "signature"]


class HasConfig(Protocol):
    """What posting uses of the runtime the sender's pass captured: the webhooks."""

    @property
    def config(self) -> Config: ...

TIMEOUT = 10.0


def signature(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


async def post_webhooks(app: HasConfig, rows: list[Claimed],
                        settle: Callable[[list[AttemptResult]], Awaitable[None]]) -> None:
    hooks = {h.url: h for h in app.config.webhooks}
    async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False,
                                 trust_env=False) as client:
        for row in rows:
            await settle([await _post(client, hooks, row)])


async def _post(client: httpx.AsyncClient, hooks: dict, row: Claimed) -> AttemptResult:  # type: ignore[type-arg]
    url = row.recipients[0] if row.recipients else ""
    hook = hooks.get(url)
    if hook is None:
        return AttemptResult(row.id, "failed", f"no webhook {url} in the config any more")
    try:
        secret = hook.secret_file.read_bytes().splitlines()[0].strip()
    except (OSError, IndexError) as exc:
        return AttemptResult(row.id, "retry", f"cannot read {hook.secret_file}: {exc}")
    event = _event(row.raw)
    headers = {"Content-Type": "application/json", "User-Agent": "maildesk-webhooks",
               "X-Maildesk-Event": event, "X-Maildesk-Delivery": _delivery(row.raw),
               "X-Maildesk-Signature": signature(secret, row.raw)}
    try:
        response = await client.post(url, content=row.raw, headers=headers)
    except httpx.HTTPError as exc:
        return AttemptResult(row.id, "retry", f"{type(exc).__name__}: {exc}"[:500])
    if 200 <= response.status_code < 300:
        return AttemptResult(row.id, "sent")
    verdict = "failed" if response.status_code == 410 else "retry"
    return AttemptResult(row.id, verdict, f"HTTP {response.status_code} from {url}"[:500])


def _event(raw: bytes) -> str:
    import json

    return str(json.loads(raw).get("event", ""))


def _delivery(raw: bytes) -> str:
    import json

    return str(json.loads(raw).get("id", ""))
