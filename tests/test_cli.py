"""The command line as an admin and an MTA use it (SPEC 11), always as a real subprocess."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from tests.conftest import FIXTURES, Desk, simple_mail

SHOW_FIELDS = {"number", "title", "queue", "state", "priority", "owner", "locked", "customer",
               "cc", "tags", "created_at", "updated_at", "articles", "history"}
ARTICLE_FIELDS = {"message_id", "from", "to", "cc", "subject", "sender_type", "visibility",
                  "body", "attachments", "raw_sha256", "created_at"}


def run(cwd: Path, *args: str, input: bytes | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    clean = {k: v for k, v in os.environ.items() if k != "MAILDESK_CONFIG"}
    return subprocess.run([sys.executable, "-m", "maildesk", *args], cwd=cwd, input=input,
                          capture_output=True, timeout=120, env={**clean, **(env or {})})


def test_init_then_deliver_then_show_in_a_fresh_folder(tmp_path: Path) -> None:
    result = run(tmp_path, "init")
    assert result.returncode == 0, result.stderr.decode()
    config = (tmp_path / "maildesk.yaml").read_text()
    assert config.count("#") > 20  # the example is commented
    secret = tmp_path / "var" / "secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600 and len(secret.read_text()) > 32
    assert run(tmp_path, "init").returncode == 0  # idempotent: keeps the config and secret
    assert (tmp_path / "maildesk.yaml").read_text() == config

    raw = (FIXTURES / "gmail_attachment_pdf_en.eml").read_bytes()
    assert run(tmp_path, "deliver", "--recipient", "support@example.com", input=raw) \
        .returncode == 0
    listing = run(tmp_path, "tickets").stdout.decode()
    tickets = json.loads(run(tmp_path, "tickets", "--json").stdout)
    assert len(tickets) == 1
    assert tickets[0]["number"] in listing
    assert set(tickets[0]) >= SHOW_FIELDS - {"articles", "history"}
    number = tickets[0]["number"]
    data = json.loads(run(tmp_path, "show", number, "--json").stdout)
    assert set(data) >= SHOW_FIELDS
    assert set(data["articles"][0]) >= ARTICLE_FIELDS
    assert data["articles"][0]["attachments"][0]["filename"].endswith(".pdf")
    assert set(data["history"][0]) == {"event", "actor", "at", "details"}
    assert data["created_at"].endswith("Z")
    text = run(tmp_path, "show", number).stdout.decode()
    assert f"Ticket {number}" in text and "--- history" in text
    assert run(tmp_path, "show", "999").returncode == 66


def test_config_lookup_uses_the_environment(desk: Desk, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = run(elsewhere, "check-config", env={"MAILDESK_CONFIG": str(desk.config_path)})
    assert result.returncode == 0 and b"ok" in result.stdout
    assert run(elsewhere, "check-config").returncode == 78  # no ./maildesk.yaml here


def test_check_config_reports_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "maildesk.yaml"
    path.write_text("queues:\n  - name: Support\n    address: support@example.com\n"
                    "    colour: blue\n")
    result = run(tmp_path, "--config", str(path), "check-config")
    assert result.returncode == 78
    assert f"{path}:4:" in result.stderr.decode()


def test_route_test_shows_the_route_and_stores_nothing(desk: Desk, tmp_path: Path) -> None:
    mail = tmp_path / "invoice.eml"
    mail.write_bytes(simple_mail(subject="Invoice 2026-11 is wrong"))
    result = desk.cli("route-test", str(mail))
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    assert "invoices go to billing" in out and "Billing" in out
    assert desk.tickets() == []


def test_deliver_never_exits_with_a_usage_code_that_bounces(desk: Desk) -> None:
    result = desk.cli("deliver", "--no-such-flag", input=simple_mail())
    assert result.returncode == 75
    assert desk.tickets() == []
