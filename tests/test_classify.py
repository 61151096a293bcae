"""Classification against the shared corpus (auto-replies with their labels, real DSNs with
upstream expectations) and the loop signals one by one."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from maildesk.classify import Classification, classify, is_system_sender, verp_id
from maildesk.config import Config
from maildesk.intake.message import Envelope
from maildesk.intake.parse import parse_message
from tests.conftest import CORPUS, Desk, needs_corpus, simple_mail

AUTOREPLIES = CORPUS / "autoreplies"
BOUNCES = CORPUS / "bounces"

# Samples whose label we do not reach, and why (kept honest rather than special-cased).
KNOWN_MISSES = {
    "mail-deliverystatus-bounceparser/bluebottle.msg":
        "challenge-response with no header or subject signal at all",
}


def _return_path(raw: bytes) -> str:
    head = raw.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
    for line in head.splitlines():
        if line.lower().startswith(b"return-path:"):
            value = line.split(b":", 1)[1].strip().decode("ascii", "replace")
            return value.strip("<>") if "@" in value else ""
    return "someone@example.net"


def _classify(config: Config, raw: bytes, sender: str | None = None,
              recipients: tuple[str, ...] = ("support@example.com",)) -> Classification:
    mail = parse_message(raw, config.limits)
    envelope = Envelope(sender=_return_path(raw) if sender is None else sender,
                        recipients=recipients)
    return classify(mail, envelope, config)


@pytest.fixture
def config(desk: Desk) -> Config:
    return desk.config


def _labels() -> list[dict[str, str]]:
    if not (AUTOREPLIES / "labels.tsv").is_file():
        return []
    with (AUTOREPLIES / "labels.tsv").open(newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


@needs_corpus
@pytest.mark.parametrize("row", _labels(), ids=[r["file"] for r in _labels()])
def test_autoreply_corpus_labels(config: Config, row: dict[str, str]) -> None:
    result = _classify(config, (AUTOREPLIES / row["file"]).read_bytes())
    if row["file"] in KNOWN_MISSES:
        pytest.xfail(KNOWN_MISSES[row["file"]])
    assert not result.may_autorespond, row
    if row["class"] == "auto-reply":
        assert result.kind == "autoreply", (row, result)
    elif row["class"].startswith("bounce"):
        assert result.kind == "bounce", (row, result)
    else:  # challenge-response: machine mail, never a customer's words
        assert result.kind in ("autoreply", "bounce"), (row, result)


def _deliveryboy() -> list[tuple[str, dict[str, str]]]:
    path = BOUNCES / "deliveryboy" / "bounce_cases.yml"
    if not path.is_file():
        return []
    import yaml

    return sorted(yaml.safe_load(path.read_text()).items())


@needs_corpus
@pytest.mark.parametrize(("name", "expected"), _deliveryboy(), ids=[n for n, _ in _deliveryboy()])
def test_deliveryboy_bounces(config: Config, name: str, expected: dict[str, str]) -> None:
    raw = (BOUNCES / "deliveryboy" / "bounce_cases" / f"{name}.eml").read_bytes()
    result = _classify(config, raw, sender="")
    assert result.kind == "bounce" and result.bounce is not None
    assert expected["message_id"] in result.bounce.message_ids
    if "status" in expected:
        assert result.bounce.status == expected["status"]
    assert not result.may_autorespond


def _sisimai_rfc3464() -> list[tuple[str, str]]:
    path = BOUNCES / "sisimai-set-of-emails" / "expected.tsv"
    if not path.is_file():
        return []
    rows: dict[str, str] = {}
    with path.open(newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if "/rfc3464-" in row["file"] and row["status"]:
                rows.setdefault(row["file"], row["status"])
    return sorted(rows.items())


@needs_corpus
@pytest.mark.parametrize(("name", "status"), _sisimai_rfc3464(),
                         ids=[Path(n).name for n, _ in _sisimai_rfc3464()])
def test_sisimai_rfc3464_status(config: Config, name: str, status: str) -> None:
    raw = (BOUNCES / "sisimai-set-of-emails" / name).read_bytes()
    result = _classify(config, raw, sender="")
    assert result.kind == "bounce" and result.bounce is not None
    assert result.bounce.status == status


@needs_corpus
def test_not_bounces_are_not_bounces(config: Config) -> None:
    folder = BOUNCES / "sisimai-set-of-emails" / "maildir-not"
    for path in sorted(folder.iterdir()):
        result = _classify(config, path.read_bytes())
        assert result.kind != "bounce", path.name


@needs_corpus
def test_mdn_is_no_customer_reply(config: Config) -> None:
    raw = (BOUNCES / "mimekit" / "disposition-notification.txt").read_bytes()
    assert _classify(config, raw).kind == "autoreply"


def test_verp_address(config: Config) -> None:
    assert verp_id(config, "bounces+42@example.com") == 42
    assert verp_id(config, "BOUNCES+42@Example.COM") == 42
    assert verp_id(config, "bounces@example.com") is None
    assert verp_id(config, "bounces+42@evil.example") is None
    assert verp_id(config, "support+42@example.com") is None


def test_anything_to_the_bounce_address_is_a_bounce(config: Config) -> None:
    raw = simple_mail(subject="I am on holiday")
    result = _classify(config, raw, sender="carol@example.org",
                       recipients=("bounces+7@example.com",))
    assert result.kind == "bounce" and result.bounce and result.bounce.verp_id == 7


def test_ordinary_mail_may_be_answered(config: Config) -> None:
    result = _classify(config, simple_mail(subject="Out of office hours support?"),
                       sender="carol@example.org")
    assert result.kind == "mail" and result.may_autorespond, result


@pytest.mark.parametrize("subject", ["Out of Office: back Monday", "Automatic reply: Hello",
                                     "Abwesenheitsnotiz: Urlaub", "Respuesta automática: Hola",
                                     "AW: Automatische Antwort: Rechnung"])
def test_vacation_subjects_with_a_header_signal(config: Config, subject: str) -> None:
    raw = simple_mail(subject=subject, headers={"X-Auto-Response-Suppress": "All"})
    result = _classify(config, raw, sender="carol@example.org")
    assert result.kind == "autoreply" and not result.may_autorespond


def test_system_senders() -> None:
    for address in ("MAILER-DAEMON@x.org", "postmaster@x.org", "no-reply@x.org",
                    "noreply@x.org", "donotreply@x.org", "owner-list@x.org",
                    "list-request@x.org"):
        assert is_system_sender(address), address
    for address in ("carol@x.org", "replyto@x.org", "daemon@x.org"):
        assert not is_system_sender(address), address
