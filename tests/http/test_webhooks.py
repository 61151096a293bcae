"""Webhooks through the durable outbox: a receiver that is down at first gets the event
later, exactly once, signed."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import simple_mail
from tests.db.serving import free_port, send, wait_for
from tests.http.conftest import Api

pytestmark = pytest.mark.backends()


class Receiver:
    def __init__(self, port: int) -> None:
        self.got: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.got.append((dict(self.headers), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def outbox(api: Api) -> list[dict]:
    return json.loads(api.desk.cli("outbox", "--json").stdout)


def test_a_receiver_down_at_first_gets_the_event_later_once_and_signed(
        api_factory: Callable[..., Api]) -> None:
    port = free_port()
    api = api_factory(f"""webhooks:
  - url: http://127.0.0.1:{port}/hook
    secret_file: ./hook.secret
    events: [ticket.created, ticket.state]
""")
    (api.desk.root / "hook.secret").write_text("s3cret\n")
    # The pump starts its cursor at the history as it is: wait for that first look.
    import time

    time.sleep(1.5)
    assert send(api.smtp_port, simple_mail(), "carol@example.org") == 250
    wait_for(lambda: any(r["kind"] == "webhook" and r["attempts"] >= 1 and r["last_error"]
                         for r in outbox(api)), 60, "a failed first webhook attempt")
    receiver = Receiver(port)
    try:
        wait_for(lambda: any(r["kind"] == "webhook" and r["state"] == "sent"
                             for r in outbox(api)), 60, "the webhook delivered")
        time.sleep(3)  # a duplicate would come within the next sender passes
    finally:
        receiver.stop()
    created = [(h, b) for h, b in receiver.got if h["X-Maildesk-Event"] == "ticket.created"]
    assert len(created) == 1, receiver.got
    headers, body = created[0]
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Maildesk-Signature"], expected)
    event = json.loads(body)
    assert event["event"] == "ticket.created" and event["id"] == headers["X-Maildesk-Delivery"]
    assert event["ticket"]["customer"] == "carol@example.org"
    rows = [r for r in outbox(api) if r["kind"] == "webhook"]
    assert [r["state"] for r in rows] == ["sent"]
    assert rows[0]["to"] == f"http://127.0.0.1:{port}/hook"
