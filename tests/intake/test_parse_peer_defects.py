"""Parser defects found by comparing with Zammad's and OTOBO's own fixtures (issue 11); each
case is a small mail of the shape the peer fixture has."""

from __future__ import annotations

from maildesk.intake.parse import parse_message

BODY_MAIL = (
    b"From: Carol <carol@example.org>\r\nTo: support@example.com\r\nSubject: Printer\r\n"
    b"Message-ID: <m1@example.org>\r\n"
)


def test_continuation_without_leading_space_does_not_end_the_headers() -> None:
    raw = (
        b"Return-Path: carol@example.org\n"
        b"X-Spam-Status: No, hits=0.0 required=5.0\n"
        b"tests=BAYES_00: -1.665, HTML_MESSAGE: 0.001,\n"  # a continuation, space lost
        b"Received: from mail.example.org ([192.0.2.1])\n"
        b"by mx.example.com with ESMTP\n"  # no colon at all
        b"X-Tracker: H4sIAAAAAAAAA+NgFlrIKsWRWlGSWpSXmKPE\n"
        b"Ig5drOCwmrVzP5sDoseXbDeYAxijWzLyk/IoE1owF\n"
        b"From: Carol <carol@example.org>\n"
        b"Subject: Printer\n"
        b"Message-ID: <m1@example.org>\n"
        b"References: <r1@example.org>\n"
        b"\n"
        b"Hello\n"
    )
    mail = parse_message(raw)
    assert mail.from_addr == "carol@example.org"
    assert mail.subject == "Printer"
    assert mail.message_id == "m1@example.org"
    assert mail.references == ["r1@example.org"]
    assert mail.body == "Hello\n"


def test_a_stray_line_before_the_headers_does_not_hide_them() -> None:
    raw = b"---- Original email message ----\r\n" + BODY_MAIL + b"\r\nHello\r\n"
    mail = parse_message(raw)
    assert (mail.from_addr, mail.subject, mail.body) == ("carol@example.org", "Printer",
                                                        "Hello\n")


def test_headerless_text_stays_a_body() -> None:
    mail = parse_message(b"just some words\nand more: words\n\nend\n")
    assert mail.from_addr is None and "just some words" in mail.body


def _raw_header_mail(subject: bytes, name: bytes) -> bytes:
    return (b'From: "' + name + b'" <carol@example.org>\r\nSubject: ' + subject
            + b"\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\nHello\r\n")


def test_raw_8bit_cjk_headers_are_guessed() -> None:
    cases = [
        ("转发：整体提升企业服务水平", "武兰成", "gb18030"),
        ("ツール", "ツール EXAMPLE", "cp932"),
        ("한국어 제목입니다", "김철수", "cp949"),
        ("日本語の件名です", "山田太郎", "euc_jp"),
        ("Grüße aus Köln", "Jürgen Müller", "utf-8"),
    ]
    for subject, name, codec in cases:
        mail = parse_message(_raw_header_mail(subject.encode(codec), name.encode(codec)))
        assert (mail.subject, mail.from_name) == (subject, name), codec


def test_undeclared_cjk_body_is_guessed() -> None:
    text = "机房环境法规，请查收附件中的文件。谢谢！"
    raw = BODY_MAIL + b"\r\n" + text.encode("gb18030") + b"\r\n"
    assert parse_message(raw).body == text + "\n"


def test_raw_8bit_latin_headers_stay_windows_1252() -> None:
    mail = parse_message(_raw_header_mail("Grüße aus Köln".encode("cp1252"),
                                          "Jürgen Müller".encode("cp1252")))
    assert (mail.subject, mail.from_name) == ("Grüße aus Köln", "Jürgen Müller")


def test_mislabelled_encoded_word_is_guessed() -> None:
    # Zammad mail093: a Shift_JIS name inside an encoded word labelled ISO-2022-JP.
    raw = (b"From: =?ISO-2022-JP?B?g2OBW4OLIEVYQU1QTEU=?= <bar@example.org>\r\n"
           b"Subject: x\r\n\r\nHello\r\n")
    assert parse_message(raw).from_name == "ツール EXAMPLE"


def test_iso_2022_jp_with_nec_extensions() -> None:
    # ① is NEC row 13 (0x2D21), outside JIS X 0208: CP50220 / cp932 has it.
    text = "　①１都３県の安と、㈱ﾃｽﾄ"
    body = b"\x1b$B!!-!#1ET#38)$N0B$H!\"-j\x1b(IC=D\x1b(B\r\n"
    raw = BODY_MAIL + b"Content-Type: text/plain; charset=ISO-2022-JP\r\n\r\n" + body
    mail = parse_message(raw)
    assert "\ufffd" not in mail.body
    assert mail.body == text + "\n"


def test_forwarded_message_is_kept_byte_for_byte() -> None:
    inner = (
        b"From: Dave <dave@example.net>\r\n"
        b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n"
        b"X-Odd:   spaced    value\r\n"
        b"\tfolded with a tab\r\n"
        b"Message-ID: <inner@example.net>\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n"
        b"\r\n"
        b"From the start of a line\r\n"
        + "Grüße, 8-bit\r\n".encode() + b"x" * 1200 + b"\r\n"
    )
    raw = (
        BODY_MAIL + b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        b"--b1\r\nContent-Type: text/plain\r\n\r\nSee below.\r\n"
        b"--b1\r\nContent-Type: message/rfc822\r\n\r\n" + inner +
        b"\r\n--b1--\r\n"  # the line break before a delimiter belongs to it (RFC 2046)
    )
    mail = parse_message(raw)
    assert [a.content_type for a in mail.attachments] == ["message/rfc822"]
    assert mail.attachments[0].data == inner
    assert mail.body == "See below.\n"


def test_x_uuencode_part_without_begin_and_end_lines() -> None:
    raw = (
        BODY_MAIL + b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        b"--b1\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"
        b'--b1\r\nContent-Type: application/msword; name="a.txt"\r\n'
        b"Content-Transfer-Encoding: x-uuencode\r\n\r\n"
        b",2&5L;&\\@6F%M;6%D\r\n`\r\n"
        b"--b1--\r\n"
    )
    mail = parse_message(raw)
    assert [(a.filename, a.data) for a in mail.attachments] == [("a.txt", b"Hello Zammad")]


def test_x_uuencode_part_with_begin_and_end_lines() -> None:
    raw = (
        BODY_MAIL + b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        b'--b1\r\nContent-Type: application/octet-stream; name="a.txt"\r\n'
        b"Content-Transfer-Encoding: x-uuencode\r\n\r\n"
        b"begin 644 a.txt\r\n,2&5L;&\\@6F%M;6%D\r\n`\r\nend\r\n"
        b"--b1--\r\n"
    )
    assert [a.data for a in parse_message(raw).attachments] == [b"Hello Zammad"]


def test_spaces_inside_an_address_do_not_empty_from() -> None:
    raw = (b'From: "your secret past" <power quadrant system@example.com>\r\n'
           b"Subject: x\r\n\r\nHello\r\n")
    mail = parse_message(raw)
    assert (mail.from_addr, mail.from_name) == ("powerquadrantsystem@example.com",
                                                "your secret past")


def test_name_and_address_without_angle_brackets() -> None:
    mail = parse_message(b"From: Test test@example.com\r\nSubject: x\r\n\r\nHello\r\n")
    assert (mail.from_addr, mail.from_name) == ("test@example.com", "Test")


def test_rfc2231_filename_in_iso_2022_jp_with_nec_characters() -> None:
    """OTOBO's PostMaster-Test12: `filename*=iso-2022-jp''...` holding ① (NEC row 13) was
    decoded by Python's codec, which refuses it: the name got U+FFFD. RFC 2231 values now
    go through maildesk's decoder, as headers and bodies already did."""
    raw = (BODY_MAIL + b"MIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
           b"Content-Type: text/plain\r\n\r\nHello\r\n--b\r\n"
           b"Content-Type: text/plain; name*=iso-2022-jp''%1B%24BJs9p%3Dq%2D%21%1B%28B.txt\r\n"
           b"Content-Disposition: attachment;\r\n"
           b" filename*=iso-2022-jp''%1B%24BJs9p%3Dq%2D%21%1B%28B.txt\r\n\r\n"
           b"data\r\n--b\r\n"
           b"Content-Type: application/octet-stream\r\n"
           b"Content-Disposition: attachment; filename*=us-ascii''W%F6lbung.jpg\r\n\r\n"
           b"data\r\n--b--\r\n")
    names = [a.filename for a in parse_message(raw).attachments]
    assert names == ["報告書①.txt", "Wölbung.jpg"]
