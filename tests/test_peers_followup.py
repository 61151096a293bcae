"""OTOBO's PostMaster.t threading, on its own sample mails (corpus peers/otobo/sample/
PostMaster): each mail makes a ticket, and the same mail sent back with the ticket number
in the subject, in every form OTRS writes or accepts (`[Ticket#N]` before or after the
subject, `Ticket#: N`, `Ticket#:N`, `Ticket#N`), is a follow-up of that ticket. As the
peer's test does: `From:` rewritten to one address, the rest of the mail as it is (a new
Message-ID per resend, which maildesk would otherwise rightly take for a duplicate)."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.conftest import CORPUS, Desk, needs_corpus

pytestmark = needs_corpus

SAMPLES = [f"PostMaster-Test{n}.box" for n in (1, 2, 3, 5, 6, 11, 17, 18, 21, 23)]
CUSTOMER = "customer@example.org"
_HEADER = r"^{}:[^\n]*\n(?:[ \t][^\n]*\n)*"


def _set(raw: bytes, name: str, value: str) -> bytes:
    ends = [i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0]
    head, _, body = raw.partition(b"\r\n\r\n" if raw.find(b"\r\n\r\n") == min(ends)
                                  else b"\n\n")
    text = head.decode("latin-1").replace("\r\n", "\n") + "\n"
    line = f"{name}: {value}\n"
    pattern = re.compile(_HEADER.format(re.escape(name)), re.I | re.M)
    text = pattern.sub("", text)
    text = line + text
    return text.rstrip("\n").replace("\n", "\r\n").encode("latin-1") + b"\r\n\r\n" + body


@pytest.mark.parametrize("name", SAMPLES)
def test_otrs_subject_forms_are_follow_ups(desk: Desk, name: str) -> None:
    raw = (CORPUS / "peers" / "otobo" / "sample" / "PostMaster" / name).read_bytes()
    raw = _set(raw, "From", CUSTOMER)
    first = desk.ingest(_set(raw, "Message-ID", f"<{uuid.uuid4().hex}@example.org>"),
                        sender=CUSTOMER)
    assert first.code == 250 and first.ticket, first
    number = first.ticket
    for subject in (f"[Ticket#{number}] Some Subject", f"Some Subject [Ticket#{number}]",
                    f"Ticket#: {number}", f"Ticket#:{number}", f"Ticket#{number}"):
        again = _set(_set(raw, "Subject", subject), "Message-ID",
                     f"<{uuid.uuid4().hex}@example.org>")
        outcome = desk.ingest(again, sender=CUSTOMER)
        assert outcome.ticket == number, (subject, outcome)
    assert len(desk.show(number)["articles"]) == 6
