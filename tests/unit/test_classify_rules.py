"""Classification rule by rule, on mails built here and parsed by the real parser."""

from __future__ import annotations

import pytest

from maildesk.classify import classify
from maildesk.classify.facts import facts
from maildesk.classify.loop import LOOP_RULES
from maildesk.config import Config
from maildesk.intake.message import Envelope
from maildesk.intake.parse import parse_message
from tests.conftest import simple_mail

CUSTOMER = Envelope(sender="carol@example.org", recipients=("support@example.com",))
NULL = Envelope(sender="", recipients=("support@example.com",))

DSN = b"""\
From: Mail Delivery System <MAILER-DAEMON@relay.example.net>
To: support@example.com
Subject: Undelivered Mail Returned to Sender
Message-ID: <dsn-1@relay.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

Your mail could not be delivered.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; relay.example.net

Final-Recipient: rfc822; Gone@Example.net
Action: delayed
Status: 4.4.1

Final-Recipient: rfc822; other@example.net
Action: failed
Status: 5.1.1

--B
Content-Type: text/rfc822-headers

From: support@example.com
Message-ID: <md-0123456789abcdef@example.com>
Subject: Re: your ticket

--B--
"""


def _run(config: Config, raw: bytes, envelope: Envelope = CUSTOMER):  # type: ignore[no-untyped-def]
    return classify(parse_message(raw, config.limits), envelope, config)


def test_every_rule_has_a_name_and_a_description() -> None:
    names = [r.name for r in LOOP_RULES]
    assert len(names) == len(set(names))
    assert all(r.description for r in LOOP_RULES)


def test_plain_customer_mail_hits_nothing(config: Config) -> None:
    result = _run(config, simple_mail())
    assert (result.kind, result.hits, result.no_autoresponse) == ("mail", [], [])
    assert result.may_autorespond


@pytest.mark.parametrize(("headers", "rule", "reason"), [
    ({"Auto-Submitted": "auto-replied"}, "auto-submitted", "Auto-Submitted: auto-replied"),
    ({"Precedence": "bulk"}, "precedence", "Precedence: bulk"),
    ({"List-Id": "<x.lists.example.org>"}, "mailing-list", "mailing list (List-Id)"),
    ({"X-Auto-Response-Suppress": "OOF"}, "suppress", "X-Auto-Response-Suppress: OOF"),
    ({"X-Autoreply": "yes"}, "robot-header", "X-Autoreply"),
    ({"X-Loop": "yes"}, "x-loop", "X-Loop: yes"),
])
def test_each_header_rule_names_itself_and_its_reason(
        config: Config, headers: dict[str, str], rule: str, reason: str) -> None:
    result = _run(config, simple_mail(headers=headers))
    assert rule in result.hits
    assert reason in result.no_autoresponse
    assert not result.may_autorespond


def test_null_sender_and_system_sender(config: Config) -> None:
    result = _run(config, simple_mail(sender="mailer-daemon@example.org"), NULL)
    assert result.hits[:2] == ["null-sender", "system-sender"]
    assert "system sender: mailer-daemon@example.org" in result.no_autoresponse


def test_our_own_message_id_comes_back(config: Config) -> None:
    mid = f"md-0123456789abcdef@{config.instance.domain}"
    assert "own-message-id" in _run(config, simple_mail(message_id=mid)).hits


def test_dsn_fields_come_from_the_parsed_parts(config: Config) -> None:
    result = _run(config, DSN, NULL)
    assert result.kind == "bounce"
    assert result.hits[-1] == "bounce:delivery-status"
    bounce = result.bounce
    assert bounce is not None
    assert bounce.status == "5.1.1"  # a permanent failure outranks a delay
    assert bounce.action == "failed"
    assert bounce.recipients == ["gone@example.net", "other@example.net"]
    assert bounce.message_ids == ["md-0123456789abcdef@example.com"]


def test_a_dsn_is_read_only_within_the_parser_caps(config: Config) -> None:
    """Past the part cap the status part is not kept, and classify does not go looking."""
    from dataclasses import replace

    tight = replace(config, limits=replace(config.limits, max_parts=2))
    mail = parse_message(DSN, tight.limits)
    assert mail.truncated
    result = classify(mail, NULL, tight)
    assert result.kind == "bounce" and result.bounce is not None
    assert result.bounce.recipients == []


def test_heuristic_bounce_reads_the_status_from_the_text(config: Config) -> None:
    raw = simple_mail(subject="Mail delivery failed: returning message to sender",
                      sender="mailer-daemon@relay.example.net",
                      body="A message could not be delivered.\n\n  bob@example.net\n"
                           "    SMTP error: 550 5.1.1 unknown user\n")
    result = _run(config, raw, NULL)
    assert result.kind == "bounce" and result.bounce is not None
    assert (result.bounce.report, result.bounce.status) == ("heuristic", "5.1.1")


def test_verp_address_makes_a_bounce_with_its_id(config: Config) -> None:
    local, _, domain = config.outbound.bounce_address.partition("@")
    envelope = Envelope(sender="", recipients=(f"{local}+42-abcdefgh@{domain}",))
    result = _run(config, simple_mail(subject="whatever"), envelope)
    assert result.bounce is not None
    assert (result.bounce.report, result.bounce.verp_id, result.bounce.verp_sig) == (
        "verp", 42, "abcdefgh")


@pytest.mark.parametrize(("subject", "headers", "kind"), [
    ("Auto reply: your message", {}, "autoreply"),  # a robot's subject on its own
    ("Out of office: back Monday", {}, "autoreply"),
    ("Re: vacation plans", {}, "mail"),  # a weak word without a header signal
    ("Re: vacation plans", {"Precedence": "bulk"}, "autoreply"),
])
def test_autoreply_subjects(config: Config, subject: str, headers: dict[str, str],
                            kind: str) -> None:
    assert _run(config, simple_mail(subject=subject, headers=headers)).kind == kind


def test_facts_are_read_once_per_mail(config: Config) -> None:
    mail = parse_message(simple_mail(headers={"Auto-Submitted": "Auto-Generated; x=y"}))
    f = facts(mail, CUSTOMER, config)
    assert (f.auto_submitted, f.sender, f.report_type) == ("auto-generated", "carol@example.org",
                                                          "")


QMAIL = b"""\
From: MAILER-DAEMON@mail.example.net
To: support@example.com
Subject: failure notice
Message-ID: <qmail-1@mail.example.net>

Hi. This is the qmail-send program at mail.example.net.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<Gone@example.net>:
Sorry, no mailbox here by that name. (#5.1.1)

--- Below this line is a copy of the message.

From: support@example.com
Subject: [Ticket#1] Your request
"""


def test_a_qmail_bounce_names_its_recipient_by_mailmans_detectors(config: Config) -> None:
    """No status block, no Final-Recipient line: flufl.bounce's qmail detector finds it,
    in the parsed mail (classify.mailman), and the status still comes from the text."""
    result = _run(config, QMAIL, NULL)
    assert result.kind == "bounce" and result.bounce is not None
    assert result.bounce.report == "heuristic"
    assert result.bounce.recipients == ["gone@example.net"]
    assert result.bounce.status == "5.1.1"


def test_mailmans_detectors_see_only_what_the_parser_kept() -> None:
    """The view they get is built from the parsed mail, every text cut at MAX_PART."""
    from maildesk.classify.mailman import MAX_PART, _view
    from maildesk.intake.message import ParsedMail

    mail = ParsedMail(subject="failure notice", body="x" * (MAX_PART + 10),
                      headers=[("From", "MAILER-DAEMON@example.net"),
                               ("Content-Type", "text/plain")])
    view = _view(mail)
    assert view.get_content_type() == "multipart/mixed"
    parts = view.get_payload()
    assert isinstance(parts, list) and len(parts[0].get_payload()) == MAX_PART


def test_every_hit_has_its_reasons(config: Config) -> None:
    """STYLE 4: each rule that matched says why (`why`), bounces and auto-replies too."""
    vacation = simple_mail(subject="Out of office: back Monday", sender="carol@example.org",
                           headers={"Auto-Submitted": "auto-replied"})
    for raw, envelope, hit in ((DSN, NULL, "bounce:delivery-status"),
                               (QMAIL, NULL, "bounce:heuristic"),
                               (vacation, CUSTOMER, "autoreply")):
        result = _run(config, raw, envelope)
        assert hit in result.hits
        assert set(result.why) == set(result.hits)
        assert all(result.why[name] for name in result.hits)
    assert _run(config, vacation, CUSTOMER).why["autoreply"] == ["Auto-Submitted: auto-replied"]


def test_the_autoreply_rule_is_a_named_rule_too() -> None:
    from maildesk.classify.autoreply import autoreply

    rules = (*LOOP_RULES, autoreply)
    assert len({r.name for r in rules}) == len(rules)
    assert all(r.description for r in rules)
