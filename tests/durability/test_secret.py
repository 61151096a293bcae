"""A missing instance secret is reported, not turned into an empty key (issue 11)."""

from __future__ import annotations

import subprocess
import sys

from maildesk.intake.message import Envelope
from tests.conftest import Desk, simple_mail


def test_check_config_serve_and_deliver_refuse_a_missing_secret(desk: Desk) -> None:
    secret = desk.root / "var" / "secret"
    secret.unlink()
    check = desk.cli("check-config")
    assert check.returncode == 78, check.stderr
    line = desk.config_path.read_text().splitlines().index("  secret_file: ./var/secret") + 1
    assert f"maildesk.yaml:{line}: instance.secret_file:".encode() in check.stderr
    assert b"maildesk init" in check.stderr
    deliver = desk.cli("deliver", "--sender", "carol@example.org",
                       "--recipient", "support@example.com", input=simple_mail())
    assert deliver.returncode == 75 and b"secret_file" in deliver.stderr
    serve = subprocess.run([sys.executable, "-m", "maildesk", "--config",
                            str(desk.config_path), "serve"], capture_output=True,
                           timeout=60, cwd=desk.root)
    assert serve.returncode == 78 and b"secret_file" in serve.stderr
    assert desk.tickets() == []
    secret.write_text("")  # empty is as bad as missing
    assert desk.cli("check-config").returncode == 78


def test_a_secret_gone_while_running_is_a_failure_kept_not_an_empty_key(desk: Desk) -> None:
    number = desk.ingest(simple_mail()).ticket
    (desk.root / "var" / "secret").unlink()
    app = desk.app()
    try:
        outcome = app.ingest(simple_mail(subject=f"Re: [Ticket#{number}]"),
                             Envelope("carol@example.org", ("support@example.com",)))
    finally:
        app.close()
    assert outcome.result == "quarantined"
    assert len(list((desk.root / "var" / "spool" / "failed").glob("*.mail"))) == 1
