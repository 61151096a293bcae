"""One address grammar for config, intake and outbound (issue 11, maildesk.addresses):
an IDN domain is kept as IDNA A-labels everywhere; a non-ASCII local part, which would
need SMTPUTF8, is refused by check-config instead of failing every outbound mail later."""

from __future__ import annotations

import json

import pytest

from maildesk.addresses import AddressError, normalize
from tests.conftest import Desk, simple_mail

IDN = "support@bücher.example"
ACE = "support@xn--bcher-kva.example"


def _use_queue_address(desk: Desk, address: str) -> None:
    text = desk.config_path.read_text()
    desk.config_path.write_text(text.replace("address: support@example.com",
                                             f"address: {address}", 1))


def test_the_grammar() -> None:
    assert normalize(IDN) == ACE
    assert normalize("Carol@Example.COM.") == "Carol@example.com"
    for bad in ("ü@example.com", "a b@example.com", "<a@example.com>", "a@-x.example",
                "a@example.com, b@example.com"):
        with pytest.raises(AddressError):
            normalize(bad)


def test_an_idn_queue_address_works_from_intake_to_the_auto_response(desk: Desk) -> None:
    _use_queue_address(desk, IDN)
    check = desk.cli("check-config")
    assert check.returncode == 0, check.stderr
    assert desk.config.queues[0].address == ACE
    for recipient in (IDN, ACE):  # an SMTPUTF8 client may give either form
        outcome = desk.ingest(simple_mail(to=IDN, sender="carol@bücher.example"),
                              sender="carol@bücher.example",
                              recipients=(recipient,))
        assert outcome.code == 250 and outcome.queue == "Support", outcome
    rows = json.loads(desk.cli("outbox", "--json").stdout)
    auto = [r for r in rows if r["kind"] == "autoreply"]
    assert auto and all(r["state"] == "queued" for r in auto), rows
    assert auto[0]["to"] == "carol@xn--bcher-kva.example"
    for number in {r["ticket"] for r in auto}:
        events = [h["event"] for h in desk.show(number)["history"]]
        assert not [e for e in events if "fail" in e], events


def test_check_config_refuses_a_local_part_that_needs_smtputf8(desk: Desk) -> None:
    _use_queue_address(desk, "süpport@example.com")
    check = desk.cli("check-config")
    assert check.returncode == 78
    assert b"SMTPUTF8" in check.stderr and b"maildesk.yaml:" in check.stderr
