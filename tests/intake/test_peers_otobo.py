"""OTOBO's (OTRS's) own parser fixtures (corpus peers/otobo/sample, with the values its
EmailParser.t asserts, tests/intake/otobo.py): every asserted field agrees with
parse_message except the differences listed here, each with its reason (the README's
"Parsing compared with other helpdesks" lists the deliberate ones). A listed difference
that disappears fails too, so the list stays true."""

from __future__ import annotations

import pytest

from maildesk.intake.parse import parse_message
from tests.conftest import CORPUS, needs_corpus
from tests.intake.otobo import CASES, compare, sample
from tests.intake.peers import mismatches

pytestmark = needs_corpus

_ONLY_PART = "a mail whose only part is a file: OTOBO makes it the body, maildesk an attachment"
_OTRS_NAMES = "OTOBO's file names replace spaces, brackets and ① with '_'; maildesk keeps them"
KNOWN_DIFFERENCES: dict[tuple[str, str], str] = {
    ("PostMaster-Test4.box", "to"):
        "'Name (addr)' is a name with a comment, no address; OTOBO asserts the raw text",
    ("PostMaster-Test8.box", "body md5"): _ONLY_PART,
    ("PostMaster-Test8.box", "attachments"): _ONLY_PART,
    ("PostMaster-Test13.box", "body md5"): _ONLY_PART,
    ("PostMaster-Test14.box", "body md5"): "OTOBO's own HTML-to-text rendering",
    **{("PostMaster-Test12.box", f"attachment {n} name"): _OTRS_NAMES for n in (
        "報告書_..txt", "金田_美羽", "國科會50科學之旅活動計畫徵求書_r_final_.doc",
        "2차_보도자료.hwp")},
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_otobo_fixture_fields(name: str) -> None:
    wrong = mismatches(compare(sample(CORPUS, name), CASES[name]), KNOWN_DIFFERENCES)
    assert not wrong, wrong


def test_otobo_agreement_figure() -> None:
    fields = [f for name, case in CASES.items() for f in compare(sample(CORPUS, name), case)]
    agree = sum(f.agrees for f in fields)
    assert len(fields) >= 70
    assert agree / len(fields) >= 0.87, f"{agree}/{len(fields)}"


def test_every_otobo_sample_parses() -> None:
    """OTOBO files every one of its samples; maildesk parses each into a mail (a sender or
    a body), never an exception."""
    boxes = sorted(p for p in (CORPUS / "peers" / "otobo" / "sample").rglob("*")
                   if p.suffix in (".box", ".eml"))
    assert len(boxes) == 72
    empty = []
    for path in boxes:
        mail = parse_message(path.read_bytes())
        if mail.from_addr is None and not mail.body.strip() and not mail.attachments:
            empty.append(path.name)
    assert empty == [], empty
