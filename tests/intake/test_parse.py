"""parse_message on the fixture mails and on hostile input: fields, charsets, caps, no raise."""

from __future__ import annotations

import hashlib
import random
import re
import time
from email.parser import BytesParser
from email.policy import compat32
from pathlib import Path

import pytest

from maildesk.config import Limits
from maildesk.intake import parse as parse_module
from maildesk.intake.parse import (
    MAX_IDS,
    decode_header_value,
    decode_text,
    looks_like_mail,
    parse_message,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "emails"
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
HEAD = (
    b"From: Carol <carol@example.org>\r\nTo: support@example.com\r\n"
    b"Subject: test\r\nMessage-ID: <t1@example.org>\r\n"
)


def mail(name: str, limits: Limits | None = None):
    return parse_message((FIXTURES / name).read_bytes(), limits)


def multipart(parts: list[bytes], boundary: bytes = b"b1") -> bytes:
    body = b"".join(b"--" + boundary + b"\r\n" + p + b"\r\n" for p in parts)
    return (
        HEAD
        + b"Content-Type: multipart/mixed; boundary="
        + boundary
        + b"\r\n\r\n"
        + body
        + b"--"
        + boundary
        + b"--\r\n"
    )


# ------------------------------------------------------------------ fields


def test_gmail_new_request_fields() -> None:
    m = mail("gmail_new_en.eml")
    assert m.subject == "Cannot log in to my account"
    assert m.from_addr == "carol@example.org" and m.from_name == "Carol Customer"
    assert m.from_count == 1
    assert m.to == ["support@example.com"]
    assert m.message_id == "CAJ7Qx2mT4vB9pZ1kR8sN3dL6fH0wY5eG2cU7aX4iO9qE1jK3nM@mail.gmail.com"
    assert m.content_type == "multipart/alternative"
    assert m.date == "Wed, 25 Nov 2026 10:13:51 +0100"
    assert (
        m.header("X-GM-MESSAGE-STATE") == "AOJu0YzJq3f2b1c0d9e8f7g6h5i4j3k2l1m0n9o8p7q6r5s4t3u2v1w0"
    )
    assert not m.truncated and m.notes == []


def test_body_prefers_text_plain_over_html() -> None:
    m = mail("gmail_new_en.eml")
    assert not m.body_from_html
    assert m.body.startswith("Hello,\n\nSince this morning")
    assert "<div" not in m.body and "&quot;" not in m.body


def test_blank_plain_alternative_falls_back_to_html() -> None:
    alt = (
        b"Content-Type: multipart/alternative; boundary=a1\r\n\r\n"
        b"--a1\r\nContent-Type: text/plain\r\n\r\n \r\n"
        b"--a1\r\nContent-Type: text/html\r\n\r\n<p>Only &amp; here</p>\r\n--a1--\r\n"
    )
    m = parse_message(multipart([alt]))
    assert m.body == "Only & here\n" and m.body_from_html


def test_body_newlines_are_lf() -> None:
    m = mail("outlook_reply_de.eml")  # CRLF on disk, quoted-printable
    assert "\r" not in m.body
    assert "vielen Dank für die schnelle Antwort" in m.body


def test_html_only_mail_becomes_text_without_script_or_style() -> None:
    m = mail("html_only_en.eml")
    assert m.body_from_html and m.content_type == "text/html"
    assert "SECRET-TRACKING-TOKEN" not in m.body and "alert" not in m.body
    assert "font-family" not in m.body and "FormMailer" not in m.body
    assert "Contact form submission" not in m.body  # <title> is head content
    assert '"delivered" & nobody was home' in m.body
    assert "Track it here: tracking page" in m.body
    assert "- Paid with card" in m.body
    assert "<do not reply>" in m.body
    assert m.reply_to == ["irene@example.org"]


def test_html_only_outlook_in_latin1() -> None:
    m = mail("html_only_de.eml")
    assert m.body_from_html
    assert "bitte kündigen Sie unseren Vertrag" in m.body
    assert "MsoNormal" not in m.body
    assert m.subject == "Kündigung Vertrag 20-4471"


def test_mixed_parts_keep_text_before_and_after_an_inline_image() -> None:
    m = mail("iphone_photo_de.eml")
    assert "siehe Foto:" in m.body and "Viele Grüße" in m.body
    assert [a.filename for a in m.attachments] == ["IMG_4821.jpeg"]
    assert m.attachments[0].data.startswith(b"\xff\xd8\xff")


def test_calendar_alternative_is_an_attachment_not_the_body() -> None:
    m = mail("outlook_invite_en.eml")
    assert m.body == "Hi team, let's schedule the onboarding call for Monday.\n"
    assert [a.content_type for a in m.attachments] == ["text/calendar"]
    assert m.attachments[0].data.startswith(b"BEGIN:VCALENDAR")


def test_agent_reply_keeps_command_lines_at_the_top() -> None:
    m = mail("agent_reply_commands.eml")
    assert m.body.startswith("/priority 4\n/note\n")
    assert m.from_addr == "alice@example.com"
    assert m.to == ["support+r.a3f9c2d81e@example.com"]
    assert m.in_reply_to == ["maildesk.2026112510000012.1764064800.a3f9c2@example.com"]


def test_hygiene_headers_are_available() -> None:
    vacation = mail("vacation_autoreply.eml")
    assert vacation.header("Auto-Submitted") == "auto-replied"
    assert vacation.header("x-auto-response-suppress") == "All"
    listed = mail("mailing_list.eml")
    assert listed.header("List-Id") == "Product Announcements <announce.lists.example.net>"
    assert listed.header("precedence") == "list"
    # a folded header comes back unfolded, on one line
    assert listed.header("list-unsubscribe") == (
        "<mailto:announce-leave@lists.example.net>, "
        "<https://lists.example.net/unsubscribe/announce>"
    )


@pytest.mark.parametrize(
    ("name", "prefix"),
    [
        ("outlook_reply_de.eml", "AW: "),
        ("outlook_web_reply_es.eml", "RV: "),
        ("outlook_reply_sv.eml", "SV: "),
        ("thunderbird_reply_de.eml", "Re: AW: "),
    ],
)
def test_reply_subjects_keep_prefix_and_tag(name: str, prefix: str) -> None:
    m = mail(name)
    assert m.subject.startswith(prefix + "[Ticket#2026112510000012] ")
    assert m.in_reply_to and m.in_reply_to[0].startswith("maildesk.2026112510000012.")


# ------------------------------------------------------------------ ids


def test_references_are_split_in_order_without_brackets() -> None:
    m = mail("thunderbird_reply_de.eml")
    assert m.in_reply_to == ["maildesk.2026112510000012.1764080400.2f9e61@example.com"]
    assert len(m.references) == 5
    assert m.references[0].startswith("AM9PR07MB7123A0B1C2D3E4F5A6B7C8D9E0F1A2B3C@")
    assert m.references[-1] == m.in_reply_to[0]
    assert not any("<" in r or ">" in r or " " in r for r in m.references)


def test_references_are_capped_keeping_first_and_newest() -> None:
    refs = " ".join(f"<r{i}@example.org>" for i in range(250)).encode()
    m = parse_message(HEAD + b"References: " + refs + b"\r\n\r\nhi\r\n")
    assert len(m.references) == MAX_IDS
    assert m.references[0] == "r0@example.org" and m.references[-1] == "r249@example.org"
    assert any("References" in n for n in m.notes)


def test_missing_and_oversized_message_ids() -> None:
    m = mail("empty_body_odd_headers.eml")
    assert m.message_id is None and m.date == "99999" and m.subject == "" and m.body == ""
    huge = b"From: a@example.org\r\nMessage-ID: <" + b"x" * 10_000 + b"@example.org>\r\n\r\nhi\r\n"
    m = parse_message(huge)
    assert m.message_id is None
    assert any("Message-ID" in n for n in m.notes)


def test_in_reply_to_without_brackets_and_with_comments() -> None:
    raw = HEAD + b"In-Reply-To: a1@example.org (Carol's message)\r\n\r\nhi\r\n"
    assert parse_message(raw).in_reply_to == ["a1@example.org"]
    raw = HEAD + b"In-Reply-To: <a1@example.org> <a1@example.org>\r\n\r\nhi\r\n"
    assert parse_message(raw).in_reply_to == ["a1@example.org"]


# ------------------------------------------------------------------ addresses


def test_addresses_are_lowercase_addr_specs_with_decoded_names() -> None:
    m = mail("rfc2047_subjects.eml")
    assert m.from_name == "Zoë Ångström"
    assert m.to == ["support@example.com", "bob@example.com"]
    assert m.cc == ["andre@example.net", "jane.smith@example.net"]


def test_two_from_headers_give_no_sender() -> None:
    m = mail("two_from_headers.eml")
    assert m.from_count == 2
    assert m.from_addr is None


def test_two_addresses_in_one_from_give_no_sender() -> None:
    m = parse_message(b"From: alice@example.com, mallory@example.net\r\n\r\nhi\r\n")
    assert (m.from_count, m.from_addr) == (2, None)


def test_address_list_that_breaks_the_stdlib_parser() -> None:
    # email._parseaddr recurses once per ':' and dies with RecursionError (mimekit corpus)
    words = " ".join(["=?utf-8?Q?date=3E2017-08-20T10:08:28.617=3C/pr?="] * 3000)
    raw = b"From: a@example.org\r\nTo: x@example.com,\r\n " + words.encode() + b"\r\n\r\nhi\r\n"
    m = parse_message(raw)
    assert m.to == ["x@example.com"]
    assert not any(n.startswith("parse failed") for n in m.notes)


def test_to_list_is_capped() -> None:
    to = b", ".join(b"u%d@example.com" % i for i in range(1500))
    m = parse_message(b"From: a@example.org\r\nTo: " + to + b"\r\n\r\nhi\r\n")
    assert len(m.to) == 1000 and m.truncated
    assert any("To: more than" in n for n in m.notes)


# ------------------------------------------------------------------ header injection


def test_hostile_subject_cannot_inject_a_header_line() -> None:
    m = mail("hostile_subject_bcc.eml")
    assert m.subject == "Help  Bcc: x@evil.example"
    assert "bcc" not in {k.lower() for k, _ in m.headers}
    for key, value in m.headers:
        assert not CONTROL.search(key) and not CONTROL.search(value)


def test_nul_and_control_bytes_never_reach_text_fields() -> None:
    m = mail("nul_in_headers.eml")
    assert m.subject == "Broken  subject  with controls"
    assert m.from_name == "Nul  Sender" and m.from_addr == "nul.sender@example.net"
    assert "\x00" not in m.body
    assert all(not CONTROL.search(v) for _, v in m.headers)


def test_decode_header_value_joins_encoded_words() -> None:
    assert decode_header_value("=?utf-8?q?a?= =?utf-8?q?b?=") == "ab"
    assert decode_header_value("=?utf-8?q?a?= x =?utf-8?q?b?=") == "a x b"
    assert decode_header_value("=?utf-8?b?w6k=?=\r\n =?utf-8?b?w6k=?=") == "éé"
    assert decode_header_value("=?utf-8?q?line=0D=0Abreak?=") == "line  break"
    assert decode_header_value("=?no-such-charset?q?caf=E9?=") == "caf\ufffd"
    assert decode_header_value("=?utf-8*en?q?hi?=") == "hi"


def test_multibyte_character_split_across_encoded_words() -> None:
    m = mail("rfc2047_subjects.eml")
    assert m.subject == "Grüße aus Köln – 🚀 Ünïcödé test und schöne plain tail"


def test_thousands_of_encoded_words_decode_in_linear_time() -> None:
    # email.header.decode_header takes ~3 s for this; the loop here is linear
    value = " ".join(["=?utf-8?Q?date=3E2017-08-20T10:08:28.617=3C/pr?="] * 32_000)
    started = time.process_time()  # CPU time: the shared machine's load does not count
    decoded = decode_header_value(value)
    assert time.process_time() - started < 1.0
    assert decoded.startswith("date>2017-08-20T10:08:28.617</prdate>")


# ------------------------------------------------------------------ charsets


@pytest.mark.parametrize(
    ("name", "subject", "in_body"),
    [
        ("charset_iso8859_1_es.eml", "Factura de octubre - año 2026", "¿Podrían enviármela"),
        ("charset_windows1252_en.eml", "“Export” button doesn’t work", "costs €1,200"),
        ("charset_iso2022jp_ja.eml", "お問い合わせ：ログインできません", "ログインできません"),
        ("charset_koi8r_ru.eml", "Ошибка лицензии после обновления", "Здравствуйте!"),
        ("outlook_new_de.eml", "Programm stürzt beim Öffnen großer Dateien ab", "Müller & Söhne"),
        (
            "outlook_reply_sv.eml",
            "SV: [Ticket#2026112510000012] Inloggningen fungerar inte",
            "Tack för svaret",
        ),
        (
            "outlook_web_reply_es.eml",
            "RV: [Ticket#2026112510000012] Factura duplicada",
            "el importe de 120 € no coincide",
        ),
        ("apple_mail_new_es.eml", "No puedo acceder a mi cuenta", "«Error 503»"),
        (
            "thunderbird_new_fr.eml",
            "Problème de facturation – commande n° 8812",
            "le second prélèvement",
        ),
    ],
)
def test_charsets(name: str, subject: str, in_body: str) -> None:
    m = mail(name)
    assert m.subject == subject
    assert in_body in m.body
    assert "\ufffd" not in m.body


def test_unknown_charset_is_replaced_not_guessed() -> None:
    m = mail("charset_unknown.eml")
    assert m.subject == "Caf\ufffd order status"
    assert "caf\ufffd (ref 1234)" in m.body
    assert "Plain ASCII line stays readable." in m.body
    assert any("x-unknown" in n for n in m.notes)


@pytest.mark.parametrize(
    ("data", "charset", "expected"),
    [
        ("안녕하세요".encode("cp949"), "ks_c_5601-1987", "안녕하세요"),
        ("简体中文".encode("gb18030"), "gb2312", "简体中文"),
        ("日本語".encode("cp932"), "shift_jis", "日本語"),
        (b"caf\xe9", None, "café"),  # undeclared: UTF-8 fails, windows-1252
        ("café".encode(), "us-ascii", "café"),  # mislabelled UTF-8 is still read as UTF-8
        (b"\x93quoted\x94", "iso-8859-1", "“quoted”"),  # latin-1 labels mean windows-1252
        (b"+ADw-script+AD4-", "utf-7", "<script>"),
        (b"abc\xff", "utf-8", "abc\ufffd"),
        (b"abc\xe9", "undefined", "abc\ufffd"),  # a codec that raises UnicodeError outright
        (b"abc\xe9", "base64", "abc\ufffd"),  # not a text encoding
        (b"abc\x8e", '"x-mac-roman"', "abcé"),  # quoted label, alias
    ],
)
def test_decode_text(data: bytes, charset: str | None, expected: str) -> None:
    assert decode_text(data, charset)[0] == expected


# ------------------------------------------------------------------ attachments


def test_attachments_are_decoded_hashed_and_named() -> None:
    m = mail("gmail_attachment_pdf_en.eml")
    pdf, png = m.attachments
    assert (pdf.filename, pdf.content_type, pdf.content_id) == (
        "Invoice-2026-1187.pdf",
        "application/pdf",
        "f_mhx8k2a10",
    )
    assert pdf.data.startswith(b"%PDF-1.4") and pdf.size == len(pdf.data)
    assert pdf.sha256 == hashlib.sha256(pdf.data).hexdigest()
    assert png.filename == "statement.png" and png.data.startswith(b"\x89PNG")
    assert "charged twice" in m.body


def test_inline_cid_image_of_an_html_mail() -> None:
    m = mail("outlook_new_de.eml")
    (img,) = m.attachments
    assert img.content_id == "image001.png@01DB5F2A.3C4D5E60"
    assert img.filename == "image001.png" and img.content_type == "image/png"


def test_hostile_attachment_names_are_made_safe() -> None:
    m = mail("hostile_attachment_names.eml")
    names = [a.filename for a in m.attachments]
    assert names[:5] == ["x", "x.bat", "gpj.exe", "report .pdf", "a" * 251 + ".pdf"]
    for name in names:
        assert "/" not in name and "\\" not in name and ".." not in name
        assert all(ch.isprintable() for ch in name)
        assert len(name.encode()) <= 255
    cid_image = m.attachments[5]
    assert cid_image.content_id == "../../app/x.py"  # kept as data, never as a name
    assert cid_image.filename == "part-8.png"


def test_forwarded_message_is_an_eml_attachment_not_the_body() -> None:
    m = mail("forward_rfc822_en.eml")
    assert m.body == "Forwarding this customer complaint that reached me directly.\n\nBob\n"
    (fwd,) = m.attachments
    assert (fwd.filename, fwd.content_type) == ("Complaint about delivery.eml", "message/rfc822")
    inner = BytesParser(policy=compat32).parsebytes(fwd.data)
    assert inner["Subject"] == "Complaint about delivery"
    assert "delivery-note.pdf" not in [a.filename for a in m.attachments]


def test_dsn_bounce_parts() -> None:
    m = mail("dsn_bounce_verp.eml")
    assert m.to == ["bounces+123@example.com"]
    assert m.content_type == "multipart/report"
    assert "could not\nbe delivered" in m.body
    kinds = {a.content_type: a for a in m.attachments}
    assert b"Final-Recipient: rfc822; nobody@example.org" in kinds["message/delivery-status"].data
    original = kinds["message/rfc822"].data
    assert b"Message-ID: <maildesk.2026112510000012.1764068401.e0c7a5@example.com>" in original


def test_inline_uuencoded_file_becomes_an_attachment() -> None:
    m = mail("uuencode_inline.eml")
    (log,) = m.attachments
    assert log.filename == "error.log"
    assert log.data == b"Error: disk full on /var\nError: disk full on /var\n"
    assert "begin 644" not in m.body and "Thanks." in m.body


@pytest.mark.parametrize("long_text", [1, 5, 16384])
def test_the_quick_look_for_a_uuencode_line_is_the_plain_one(
        long_text: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A line beginning with `begin ` is looked for with re on a long text, with `in` on
    a short one: the same answer either way; and a long body's inline file is found."""
    from maildesk.intake import mime

    monkeypatch.setattr(mime, "_LONG_TEXT", long_text)
    rng = random.Random(long_text)
    pieces = ["begin ", "begin", "\n", "\r\n", "\nbegin", " ", "x", "é", "\n\n", "egin "]
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randrange(12)))
        assert mime._uu_line(text) == ("\nbegin " in text), repr(text)
    body = "quoted text of a long thread\r\n" * 2000
    uu = "begin 644 a.txt\r\n%:&5L;&\\*\r\n`\r\nend\r\n"
    m = parse_message(b"Subject: x\r\n\r\n" + (body + uu + body).encode())
    assert [(a.filename, a.data) for a in m.attachments] == [("a.txt", b"hello")]
    assert "begin 644" not in m.body


def test_uuencode_transfer_encoding() -> None:
    part = (
        b"Content-Type: application/octet-stream; name=a.txt\r\n"
        b"Content-Transfer-Encoding: x-uuencode\r\n\r\n"
        b"begin 644 a.txt\r\n%:&5L;&\\*\r\n`\r\nend\r\n"
    )
    m = parse_message(multipart([b"Content-Type: text/plain\r\n\r\nsee file", part]))
    assert [(a.filename, a.data) for a in m.attachments] == [("a.txt", b"hello")]


# ------------------------------------------------------------------ caps


def test_header_block_over_the_cap_is_cut() -> None:
    raw = HEAD + b"X-Big: a" + b"\r\n b" * 3_000_000 + b"\r\n\r\nthe body\r\n"
    started = time.process_time()  # CPU time: the shared machine's load does not count
    m = parse_message(raw, Limits(max_header_bytes=100 * 1024))
    assert time.process_time() - started < 5.0
    assert m.truncated and any("header block larger" in n for n in m.notes)
    assert m.from_addr == "carol@example.org" and m.subject == "test"
    assert len(m.header("x-big") or "") < 100 * 1024
    assert m.body == "the body\n"
    assert not parse_message(HEAD + b"\r\nthe body\r\n", Limits(max_header_bytes=1024)).truncated


def nested(depth: int) -> bytes:
    raw = HEAD
    for i in range(depth):
        raw += b"Content-Type: multipart/mixed; boundary=n%d\r\n\r\n--n%d\r\n" % (i, i)
    return raw + b"Content-Type: text/plain\r\n\r\ndeep text\r\n"


def test_mime_depth_cap() -> None:
    assert "deep text" in parse_message(nested(10)).body
    m = parse_message(nested(10), Limits(max_mime_depth=5))
    assert "deep text" not in m.body
    assert m.truncated and any("nesting deeper than 5" in n for n in m.notes)


@pytest.mark.parametrize("kind", ["multipart", "rfc822"])
def test_ten_thousand_levels_do_not_crash(kind: str) -> None:
    if kind == "multipart":
        raw = nested(10_000)
    else:
        raw = HEAD + b"Content-Type: message/rfc822\r\n\r\n" * 10_000 + b"Subject: x\r\n\r\nhi\r\n"
    started = time.process_time()  # CPU time: the shared machine's load does not count
    m = parse_message(raw)
    assert time.process_time() - started < 5.0
    assert m.truncated and m.subject == "test"
    assert not any(n.startswith("parse failed") for n in m.notes)


def test_part_count_cap() -> None:
    parts = [b"Content-Type: application/x-thing\r\n\r\nx%d" % i for i in range(50)]
    assert len(parse_message(multipart(parts)).attachments) == 50
    m = parse_message(multipart(parts), Limits(max_parts=15))
    assert len(m.attachments) < 15
    assert m.truncated and any("more than 15 MIME parts" in n for n in m.notes)


def test_hundred_thousand_parts_are_refused_before_parsing() -> None:
    raw = multipart([b"Content-Type: text/plain\r\n\r\nx"] * 100_000)
    started = time.process_time()  # CPU time: the shared machine's load does not count
    m = parse_message(raw)
    assert time.process_time() - started < 5.0
    assert m.truncated and any("boundary-like lines" in n for n in m.notes)
    assert m.subject == "test" and m.body == ""


def test_decoded_size_cap() -> None:
    full = mail("gmail_attachment_pdf_en.eml")
    assert [a.content_type for a in full.attachments] == ["application/pdf", "image/png"]
    m = mail("gmail_attachment_pdf_en.eml", Limits(max_decoded_bytes=600))
    assert m.attachments == []
    assert "charged twice" in m.body
    assert m.truncated and any("decoded size cap" in n for n in m.notes)


def test_time_budget_stops_the_walk() -> None:
    m = mail("gmail_attachment_pdf_en.eml", Limits(parse_seconds=0))
    assert m.truncated and any("time budget" in n for n in m.notes)
    assert m.subject == "Invoice 2026-1187 charged twice"  # headers come first
    assert m.attachments == []


def test_oversized_parameter_header_is_not_fed_to_the_parser() -> None:
    # email.message's parameter parser is quadratic: 400,000 params take minutes
    part = b"Content-Type: text/plain" + b"; a=b" * 400_000 + b"\r\n\r\nx"
    started = time.process_time()  # CPU time: the shared machine's load does not count
    m = parse_message(multipart([part]))
    assert time.process_time() - started < 5.0
    assert m.truncated and any("longer than" in n for n in m.notes)


def test_huge_html_body_is_bounded() -> None:
    raw = HEAD + b"Content-Type: text/html\r\n\r\n" + b"<a " * 1_000_000
    started = time.process_time()  # CPU time: the shared machine's load does not count
    m = parse_message(raw)
    assert time.process_time() - started < 5.0
    assert m.truncated


# ------------------------------------------------------------------ never raises


def test_an_unexpected_error_becomes_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object) -> None:
        raise ValueError("bug")

    monkeypatch.setattr(parse_module, "visit", boom)
    m = mail("gmail_new_en.eml")
    assert m.truncated and m.notes[-1] == "parse failed: ValueError: bug"
    assert m.subject == "Cannot log in to my account"  # what came before is kept


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.eml")))
def test_every_prefix_and_mutation_of_a_fixture_parses(name: str) -> None:
    raw = (FIXTURES / name).read_bytes()
    rng = random.Random(name)
    samples = [raw[:n] for n in range(0, len(raw), max(1, len(raw) // 40))]
    for _ in range(20):
        data = bytearray(raw)
        for _ in range(10):
            data[rng.randrange(len(data))] = rng.randrange(256)
        samples.append(bytes(data))
    for data in samples:
        m = parse_message(data)
        assert not any(n.startswith("parse failed") for n in m.notes), (len(data), m.notes)
        assert not CONTROL.search(m.subject)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\r\n",
        b"\x00" * 100,
        bytes(range(256)) * 10,
        b"Subject: only a header",
        b"--\r\n--\r\n",
        b"Content-Type: multipart/mixed\r\n\r\n--\r\n",
        b'Content-Type: multipart/mixed; boundary=""\r\n\r\n--\r\n--\r\n',
    ],
)
def test_odd_inputs(raw: bytes) -> None:
    m = parse_message(raw)
    assert not any(n.startswith("parse failed") for n in m.notes)


# ------------------------------------------------------------------ looks_like_mail


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.eml")))
def test_fixtures_look_like_mail(name: str) -> None:
    assert looks_like_mail((FIXTURES / name).read_bytes())


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512), False),  # Outlook .msg (OLE)
        (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj", False),
        (b"PK\x03\x04\x14\x00" + bytes(100), False),
        (bytes(range(256)) * 4, False),
        (b"", False),
        (b"\r\n\r\n", False),
        (b"Subject: hello\r\n\r\nbody", True),
        (b"From carol@example.org Wed Nov 25 10:00:00 2026\nFrom: c@example.org\n\nx", True),
        (b"X-Weird: \x00\x01\x02\r\n\r\n" + bytes(200), True),  # a header line wins
        (b"Hi there,\n\nplain text piped in by hand\n", True),
    ],
)
def test_looks_like_mail(raw: bytes, expected: bool) -> None:
    assert looks_like_mail(raw) is expected
