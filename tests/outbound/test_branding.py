"""Branding in customer mails (SPEC 15): `web.title` and `web.base_url` sign every mail a
customer gets, in each language, without repeating the queue's own name."""

from __future__ import annotations

from pathlib import Path

import pytest

from maildesk.config import load_config
from maildesk.outbound.render import render_text
from tests.conftest import Desk, make_desk, simple_mail
from tests.outbound.conftest import Sink, outbound_desk, send

WEB = """
web:
  title: Acme Help Centre
  base_url: https://help.acme.test
"""
CUSTOMER_TEMPLATES = ("answer", "autoresponse_new", "autoresponse_followup",
                      "autoresponse_closed_followup", "autoresponse_reject")


def _context(display_name: str) -> dict[str, object]:
    queue = {"name": "Support", "display_name": display_name, "address": "support@example.com"}
    return {"queue": queue, "ticket": {"number": "2026113010000017"},
            "customer": {"name": "Carol", "address": "carol@example.org"},
            "subject": "Printer", "tag": "[Ticket#2026113010000017]", "body": "It works now."}


@pytest.mark.parametrize("lang", ["en", "es", "de"])
@pytest.mark.parametrize("name", CUSTOMER_TEMPLATES)
def test_every_customer_mail_is_signed_with_the_brand(tmp_path: Path, lang: str,
                                                      name: str) -> None:
    config = load_config(make_desk(tmp_path, extra=WEB).config_path)
    text = render_text(config, f"customer/{name}.txt", lang, **_context("Example Support"))
    assert text.endswith("\n--\nExample Support\nAcme Help Centre\nhttps://help.acme.test\n")


def test_the_title_is_not_repeated_and_missing_parts_leave_no_gap(tmp_path: Path) -> None:
    config = load_config(make_desk(tmp_path / "a", extra=WEB).config_path)
    text = render_text(config, "customer/answer.txt", "en", **_context("Acme Help Centre"))
    assert text.endswith("\n--\nAcme Help Centre\nhttps://help.acme.test\n")
    text = render_text(config, "customer/answer.txt", "en", **_context(""))
    assert text.endswith("\n--\nAcme Help Centre\nhttps://help.acme.test\n")
    bare = load_config(make_desk(tmp_path / "b", extra="web: {title: Acme}\n").config_path)
    text = render_text(bare, "customer/answer.txt", "es", **_context("Example Support"))
    assert text.endswith("It works now.\n\n--\nExample Support\nAcme\n")


def test_the_auto_response_a_customer_gets_carries_the_brand(tmp_path: Path,
                                                             sink: Sink) -> None:
    desk: Desk = outbound_desk(tmp_path / "desk", sink.port, extra=WEB)
    assert desk.ingest(simple_mail()).ticket
    assert send(desk) >= 1
    [reply] = sink.to("carol@example.org")
    body = reply.message.get_content().replace("\r\n", "\n")
    assert body.rstrip("\n").endswith("--\nExample Support\nAcme Help Centre\n"
                                      "https://help.acme.test")


def test_without_a_web_title_the_signature_is_the_queues_alone(tmp_path: Path) -> None:
    """The default title (maildesk) is the software's name, not a brand: not in mails."""
    config = load_config(make_desk(tmp_path).config_path)
    text = render_text(config, "customer/answer.txt", "de", **_context("Example Support"))
    assert text.endswith("It works now.\n\n--\nExample Support\n")
