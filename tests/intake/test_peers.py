"""Zammad 5.2.2's own parser fixtures (corpus peers/zammad/mail, with its expected outputs):
every comparable field agrees with parse_message except the differences listed here, each
with its reason (the README's "Parsing compared with other helpdesks" lists the deliberate
ones). A listed difference that disappears fails too, so the list stays true."""

from __future__ import annotations

import pytest

from tests.conftest import CORPUS, needs_corpus
from tests.intake.peers import compare, mismatches, zammad_cases

pytestmark = needs_corpus

_ALTERNATIVE = "maildesk takes the text/plain alternative and its own HTML-to-text rendering"
_UNNAMED = "unnamed parts get part-N names; Zammad derives one from Content-ID/Description"
_SAFE_NAME = "maildesk's safe filenames (no ':', spaces collapsed)"
KNOWN_DIFFERENCES: dict[tuple[str, str], str] = {
    **{(m, "body"): _ALTERNATIVE for m in (
        "mail001", "mail003", "mail008", "mail010", "mail011", "mail012", "mail016", "mail017",
        "mail019", "mail020", "mail021", "mail023", "mail026", "mail034", "mail043", "mail047",
        "mail062", "mail066", "mail082", "mail105", "mail106")},
    ("mail018", "body"): "UTF-7 decoded; Zammad leaves +ANw- sequences",
    ("mail018", "subject"): "UTF-7 decoded; Zammad leaves +ANw- sequences",
    ("mail025", "body"): "an inline uuencoded block becomes an attachment",
    ("mail054", "body"): "Zammad's fixture has an empty body; the mail has text",
    ("mail087", "body"): "Zammad's fixture has an empty body; the mail has text",
    ("mail016", "from_addr"): "From holds '<>': no sender address (Zammad takes another field)",
    ("mail019", "from_addr"): "From holds '<>': no sender address (Zammad takes another field)",
    ("mail046", "from_name"): "the raw GB18030 name is decoded; Zammad's value is mojibake",
    ("mail053", "from_addr"): "an address without a domain is no address",
    ("mail053", "from_name"): "an address without a domain is no address",
    ("mail058", "from_addr"): "two From addresses: no single sender (identity)",
    ("mail058", "from_name"): "two From addresses: no single sender (identity)",
    ("mail076", "from_addr"): "broken quoting: maildesk keeps the quoted local part",
    ("mail076", "from_name"): "broken quoting: maildesk keeps the quoted local part",
    ("mail087", "from_addr"): "'Test test@example.com' is name and address, not one address",
    ("mail087", "from_name"): "'Test test@example.com' is name and address, not one address",
    ("mail092", "from_name"): "the comment '(Mail Delivery System)' is kept in the name",
    ("mail014", "attachment Call: HW-Anforderung; Best-nr.47524152.eml name"): _SAFE_NAME,
    ("mail082", "attachment Tax Invoice  INX4183.PDF name"): _SAFE_NAME,
    ("mail102", "attachment Screen Shot 2018-12-17 at 091.00.38.png name"):
        "Zammad's fixture name is not the one in the mail (09.00.38)",
    ("mail062", "attachment image001.jpg name"): _UNNAMED,
    ("mail062", "attachment image000.jpg name"): _UNNAMED,
    ("mail062", "attachment video.mov name"): _UNNAMED,
    ("mail062", "attachment video1.mov name"): _UNNAMED,
    ("mail080", "attachment image.jpg name"): _UNNAMED,
    ("mail092", "attachment Delivery report.txt name"): _UNNAMED,
    ("mail092", "attachment Undelivered Message.eml name"): _UNNAMED,
    ("mail100", "attachment 32497.1617621278.2 name"): _UNNAMED,
    ("mail100", "attachment image.jpg name"): _UNNAMED,
    ("mail062", "attachment document.html data"): "HTML parts converted by Zammad",
    ("mail062", "attachment document1.html data"): "HTML parts converted by Zammad",
    ("mail087", "attachment file data"): "Zammad's fixture data is its own fallback",
    ("mail073", "attachment Forex Platte ohne W\ufffdlbung.jpg name"):
        "an 8-bit RFC 2231 name labelled us-ascii is read as windows-1252 (Wölbung)",
}

# Fields whose value depends on the Python version's address parser (3.13 reads the
# `Name | [example.com] <addr>` To header, 3.11 and Zammad do not): compared on neither.
VERSION_DEPENDENT = {("mail037", "to")}


def _cases() -> list[tuple[str, object]]:
    return [(box.stem, (box, exp)) for box, exp in zammad_cases(CORPUS)]


@pytest.mark.parametrize(("name", "case"), _cases(), ids=[n for n, _ in _cases()])
def test_zammad_fixture_fields(name: str, case: tuple) -> None:
    box, expected = case
    fields = [f for f in compare(box, expected) if (f.mail, f.name) not in VERSION_DEPENDENT]
    wrong = mismatches(fields, KNOWN_DIFFERENCES)
    assert not wrong, wrong


def test_agreement_figure() -> None:
    fields = [f for box, exp in zammad_cases(CORPUS) for f in compare(box, exp)]
    agree = sum(f.agrees for f in fields)
    assert len(fields) > 400
    assert agree / len(fields) >= 0.88, f"{agree}/{len(fields)}"
