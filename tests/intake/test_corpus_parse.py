"""Every mail of the shared corpus (MAILDESK_CORPUS, tests/conftest.py) through parse_message.

None may need the catch-all (a note "parse failed" means an exception escaped the parser's
own handling), each finishes in bounded time, and the whole corpus in well under a minute.
Expected-output files that come paired with the inputs are skipped; body-only texts (reply
and bounce bodies without headers) are fed in like any other mail.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from maildesk.intake.parse import looks_like_mail, parse_message
from tests.conftest import CORPUS, needs_corpus

PER_FILE_SECONDS = 5.0
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")

_SKIP_SUFFIXES = {".json", ".xml", ".tsv", ".yml", ".yaml", ".md"}
_SKIP_NAMES = {
    "PROVENANCE.tsv",
    "README.md",
    "README.txt",
    "COPYING",
    "ARTISTIC-LICENSE.txt",
    ".gitattributes",
}
# Folders of expected outputs (discourse's trimmed/elided/embedded/before, crisp's expected/).
_SKIP_DIRS = {"LICENSES", "trimmed", "elided", "embedded", "before", "expected"}

pytestmark = needs_corpus


def is_mail_input(path: Path) -> bool:
    """True for corpus files that are inputs, False for expected outputs and licences."""
    rel = path.relative_to(CORPUS)
    name = rel.name
    if name in _SKIP_NAMES or rel.suffix in _SKIP_SUFFIXES:
        return False
    if _SKIP_DIRS.intersection(rel.parts[:-1]):
        return False
    if name.endswith("_subject.txt"):  # crisp forward-parser: the subject paired with a body
        return False
    if name.endswith(("_reply_text", "_sender", "_signature")):  # talon expectations
        return False
    return True


def corpus_inputs() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and is_mail_input(p))


def test_skip_rules_keep_the_mails() -> None:
    inputs = {p.relative_to(CORPUS).as_posix() for p in corpus_inputs()}
    assert len(inputs) > 1300
    assert "malformed/mimekit/stack-overflow.txt" in inputs
    assert "replies/discourse-email_reply_trimmer/emails/strip.txt" in inputs
    assert "replies/talon/signature/emails/stripped/camel_case_body" in inputs
    assert "replies/discourse-email_reply_trimmer/trimmed/strip.txt" not in inputs
    assert "PROVENANCE.tsv" not in inputs


def test_every_corpus_mail_parses_in_bounded_time() -> None:
    failures: list[str] = []
    slow: list[str] = []
    for path in corpus_inputs():
        raw = path.read_bytes()
        t0 = time.monotonic()
        mail = parse_message(raw)
        elapsed = time.monotonic() - t0
        rel = path.relative_to(CORPUS).as_posix()
        if elapsed > PER_FILE_SECONDS:
            slow.append(f"{rel}: {elapsed:.1f}s")
        if any(note.startswith("parse failed") for note in mail.notes):
            failures.append(f"{rel}: {mail.notes}")
        if CONTROL.search(mail.subject) or any(CONTROL.search(v) for _, v in mail.headers):
            failures.append(f"{rel}: control character in a header value")
        for att in mail.attachments:
            name = att.filename
            if not name or "/" in name or "\\" in name or ".." in name or name.startswith("."):
                failures.append(f"{rel}: unsafe attachment name {name!r}")
        if "\x00" in mail.body or "\r" in mail.body:
            failures.append(f"{rel}: NUL or CR in the body")
    assert not failures, "\n".join(failures[:20])
    assert not slow, "\n".join(slow)  # a cap that did not stop the parse, not a speed figure


def test_only_the_binary_outlook_msg_and_the_empty_file_are_not_mail() -> None:
    not_mail = {
        p.relative_to(CORPUS).as_posix()
        for p in corpus_inputs()
        if not looks_like_mail(p.read_bytes())
    }
    assert not_mail == {
        "malformed/spamscope-mail-parser/mail_outlook_1",  # OLE compound file (.msg)
        "bounces/crisp-email-bounce-parser/empty.txt",  # zero bytes
    }


@pytest.mark.parametrize(
    ("rel", "check"),
    [
        ("malformed/mimekit/stack-overflow.txt", lambda m: m.to == ["test@test.com"]),
        (
            "malformed/mikel-mail/mime_emails/raw_email_with_mimepart_without_content_type.eml",
            lambda m: m.message_id is not None,
        ),
        ("malformed/flanker/enclosed-endless.eml", lambda m: m.truncated),
        ("malformed/flanker/long-header.eml", lambda m: m.from_addr is not None),
        (
            "malformed/nodemailer-mailparser/htmllargecallstack.eml",
            lambda m: m.subject == "Kill the HTML parser",
        ),
        ("malformed/mimekit/japanese.txt", lambda m: "\ufffd" not in m.subject),
        ("replies/talon/standard_replies/iphone.eml", lambda m: m.body.startswith("Hello")),
    ],
)
def test_notable_corpus_mails(rel: str, check) -> None:
    path = CORPUS / rel
    if not path.exists():
        pytest.skip(f"{rel} not in this corpus")
    started = time.process_time()  # CPU time: the shared machine's load does not count
    mail = parse_message(path.read_bytes())
    assert time.process_time() - started < PER_FILE_SECONDS
    assert check(mail), (mail.subject, mail.notes)
