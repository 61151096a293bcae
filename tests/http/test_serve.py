"""`serve` speaks HTTP beside SMTP in one process: health, metrics, the error envelope, the
body cap, and a clean stop on SIGTERM."""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Callable

import httpx

from tests.conftest import simple_mail
from tests.db.serving import send
from tests.http.conftest import Api, serve_api


def test_healthz_reports_database_disk_and_outbox(api: Api) -> None:
    r = api.client.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] and body["disk"]["ok"] and body["outbox"]["ok"]
    assert body["outbox"]["queued"] == 0
    assert body["disk"]["free_bytes"] > 0


def test_metrics_count_mails_and_requests(api: Api) -> None:
    assert send(api.smtp_port, simple_mail(), "carol@example.org") == 250
    api.client.get("/healthz")
    api.client.get("/no/such/thing")
    r = api.client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert 'maildesk_mails_total{result="stored"} 1.0' in text
    assert "maildesk_ingest_seconds_count 1.0" in text
    assert 'maildesk_http_requests_total{code="200",method="GET",route="/healthz"} 1.0' in text
    assert 'code="404",method="GET",route="(unmatched)"' in text
    # The database-derived gauges are read at start-up and every 15 s after.
    assert "maildesk_metrics_refreshed_timestamp_seconds" in text
    assert "maildesk_outbox_oldest_seconds" in text or "maildesk_outbox_messages" in text


def test_metrics_gauges_follow_the_database(api: Api) -> None:
    """Queue depths by state and the outbox by state, read from the database on the
    refresh after a mail made a ticket (its auto-response an outbox row)."""
    from maildesk.http.metrics import REFRESH
    from tests.db.serving import wait_for

    assert send(api.smtp_port, simple_mail(), "carol@example.org") == 250
    wait_for(lambda: 'maildesk_tickets{queue="Support",state="new"} 1.0'
             in api.client.get("/metrics").text, 3 * REFRESH + 30, "the ticket gauge")
    text = api.client.get("/metrics").text
    assert "maildesk_outbox_messages{state=" in text, text
    assert "maildesk_escalations_total 0.0" in text


def test_errors_are_the_envelope(api: Api) -> None:
    r = api.client.get("/nothing/here")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    r = api.client.delete("/healthz")
    assert r.status_code == 405
    assert r.headers["allow"] == "GET"
    assert r.json()["error"]["code"] == "method_not_allowed"
    assert "Traceback" not in r.text


def test_oversized_bodies_are_refused_before_being_read(api_factory: Callable[..., Api]) -> None:
    api = api_factory()
    text = api.desk.config_path.read_text()
    assert "max_message_size" not in text
    limit = api.desk.config.listen.max_message_size
    # Declared too large: refused from the headers, the body never sent.
    with socket.create_connection(("127.0.0.1", int(api.url.rsplit(":", 1)[1]))) as s:
        s.sendall(b"POST /api/v1/tickets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                  b"\r\nContent-Length: " + str(limit + 1).encode() + b"\r\n\r\n")
        s.settimeout(10)
        data = b""
        while chunk := s.recv(65536):  # the server closes after its answer
            data += chunk
        reply = data.decode()
    assert reply.startswith("HTTP/1.1 413"), reply
    assert '"too_large"' in reply


def test_sigterm_stops_http_and_smtp_cleanly(api: Api) -> None:
    idle = socket.create_connection(("127.0.0.1", api.smtp_port))
    idle.settimeout(10)
    assert idle.recv(1024).startswith(b"220")
    assert api.client.get("/healthz").status_code == 200
    started = time.monotonic()
    api.served.proc.send_signal(signal.SIGTERM)
    assert api.served.proc.wait(30) == 0, api.served.log()
    assert time.monotonic() - started < 15
    assert idle.recv(1024).startswith(b"421")
    idle.close()
    try:
        api.client.get("/healthz")
        raise AssertionError("HTTP still answers after SIGTERM")
    except httpx.TransportError:
        pass
    log = api.served.log()
    assert "Traceback" not in log
    assert log.count("stopping: no new connections") == 1


def test_a_busy_http_port_is_exit_71(desk, sink) -> None:  # noqa: ANN001
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    port = blocker.getsockname()[1]
    text = desk.config_path.read_text().replace("smtp: 127.0.0.1:0",
                                                f"smtp: 127.0.0.1:0\n  http: 127.0.0.1:{port}")
    desk.config_path.write_text(text)
    result = desk.cli("serve")
    blocker.close()
    assert result.returncode == 71, result.stderr.decode()
    assert b"cannot listen" in result.stderr
    assert serve_api is not None
