"""safe_filename: a sender-chosen attachment name can never become a path or a disguise."""

from __future__ import annotations

import pytest

from maildesk.intake.filenames import MAX_FILENAME_BYTES, safe_filename


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Invoice-2026-1187.pdf", "Invoice-2026-1187.pdf"),
        ("Rechnung März.pdf", "Rechnung März.pdf"),
        ("../../etc/cron.d/x", "x"),
        ("C:\\..\\x.bat", "x.bat"),
        ("/etc/passwd", "passwd"),
        ("..", "fallback.bin"),
        ("...", "fallback.bin"),
        (".bashrc", "bashrc"),
        ("a..b.pdf", "a.b.pdf"),
        ("report\x00.pdf", "report.pdf"),
        ("line\r\nbreak.txt", "line break.txt"),
        ("\u202egpj.exe", "gpj.exe"),
        ("invoice\u202ecod.exe", "invoicecod.exe"),
        ("\u2066isolate\u2069.txt", "isolate.txt"),
        ("zero\u200bwidth.txt", "zerowidth.txt"),
        ('what?<is>:this*|".txt', "what__is__this___.txt"),
        ("CON.txt", "_CON.txt"),
        ("trailing dots...", "trailing dots"),
        ("  spaced   out  .pdf", "spaced out .pdf"),
        ("", "fallback.bin"),
        (None, "fallback.bin"),
        ("/\\/", "fallback.bin"),
        ("\x01\x02\x7f", "fallback.bin"),
    ],
)
def test_cleans_names(name: str | None, expected: str) -> None:
    assert safe_filename(name, "fallback.bin") == expected


def test_long_name_is_cut_to_255_bytes_keeping_the_extension() -> None:
    result = safe_filename("a" * 300 + ".pdf", "x.bin")
    assert result.endswith(".pdf")
    assert len(result.encode("utf-8")) == MAX_FILENAME_BYTES


def test_long_multibyte_name_is_cut_on_a_character_boundary() -> None:
    result = safe_filename("ü" * 200 + ".docx", "x.bin")
    encoded = result.encode("utf-8")  # would raise on a cut half character
    assert len(encoded) <= MAX_FILENAME_BYTES
    assert result.endswith(".docx")
    assert set(result[: -len(".docx")]) == {"ü"}


def test_fallback_is_cleaned_too() -> None:
    assert safe_filename(None, "../part-3.bin") == "part-3.bin"
    assert safe_filename(None, "") == "attachment"


@pytest.mark.parametrize(
    "name",
    ["../../etc/cron.d/x", "C:\\..\\x.bat", "..\\..\\..", "\u202egpj.exe", "a/../../b", "x" * 5000],
)
def test_never_a_path(name: str) -> None:
    result = safe_filename(name, "fallback.bin")
    assert "/" not in result and "\\" not in result
    assert ".." not in result
    assert not result.startswith(".")
    assert all(ch.isprintable() for ch in result)
    assert 0 < len(result.encode("utf-8")) <= MAX_FILENAME_BYTES
