"""html_to_text: readable text, nothing from script/style/head, bounded on hostile HTML."""

from __future__ import annotations

import time

import pytest

from maildesk.intake.htmltext import html_to_text

DOC = """<!DOCTYPE html>
<html><head><title>Page title</title>
<meta charset="utf-8"><style>p { color: red } .x { font-family: Arial }</style>
<script>var secret = "TOKEN-123";</script></head>
<body>
<!-- a comment that must go -->
<div>Hello&nbsp;<b>world</b> &amp; friends</div><p>Second paragraph</p>
<p>See <a href="https://example.com/x" onclick="steal()">the guide</a>.</p>
<ul><li>one</li><li>two</li></ul>
<table><tr><td>Name</td><td>Carol</td></tr><tr><td>Order</td><td>42</td></tr></table>
<script type="text/javascript">document.write("<p>injected</p>")</script>
<pre>  indented
    code</pre>
<blockquote>quoted line<br>second quoted</blockquote>
&lt;not a tag&gt; &euro; &#8364; &#x20AC;
</body></html>"""


def test_script_style_head_and_comments_vanish() -> None:
    text = html_to_text(DOC)
    for gone in (
        "Page title",
        "color: red",
        "font-family",
        "TOKEN-123",
        "injected",
        "a comment",
        "DOCTYPE",
        "steal",
        "https://example.com",
    ):
        assert gone not in text


def test_block_elements_become_lines_and_entities_decode() -> None:
    lines = html_to_text(DOC).split("\n")
    assert "Hello world & friends" in lines
    assert "Second paragraph" in lines
    assert "See the guide." in lines
    assert "- one" in lines and "- two" in lines
    assert "Name Carol" in lines and "Order 42" in lines
    assert "<not a tag> € € €" in lines


def test_pre_keeps_its_whitespace_and_blockquote_is_quoted() -> None:
    lines = html_to_text(DOC).split("\n")
    assert "  indented" in lines and "    code" in lines
    assert "> quoted line" in lines and "> second quoted" in lines


def test_head_without_end_tag_ends_at_body_content() -> None:
    assert html_to_text("<html><head><title>t</title><p>visible") == "visible"


def test_script_with_less_than_sign_does_not_swallow_the_document() -> None:
    assert html_to_text("<script>if (a<b) { x() }</script><p>Hello</p>") == "Hello"


def test_unclosed_script_hides_the_rest_as_browsers_do() -> None:
    assert html_to_text("before<script>alert(1)<p>after") == "before"


def test_at_most_one_blank_line_and_no_trailing_spaces() -> None:
    text = html_to_text("<p>a</p><p></p><p></p><br><br><br><div>b   </div>")
    assert text == "a\n\nb"


def test_input_is_cut_at_max_chars() -> None:
    assert html_to_text("<p>" + "x" * 1000 + "</p>", max_chars=103) == "x" * 100


def test_deadline_in_the_past_reads_nothing() -> None:
    # Behaviour, not a stopwatch: past the deadline no chunk is fed to the parser.
    assert html_to_text("<div>x</div>" * 200_000, deadline=time.monotonic() - 1) == ""


@pytest.mark.parametrize(
    "html",
    [
        "<a " * 200_000,  # html.parser alone: minutes (re-scans the unfinished tag)
        "<!--" * 100_000,  # html.parser alone: ~3 s per 100 KB, quadratic
        "<a b='" * 100_000,
        "</" * 200_000,
        "<div>" * 100_000 + "deep",
        "<![CDATA[" * 50_000,
        "&#" * 200_000,
    ],
)
def test_hostile_markup_is_bounded(html: str) -> None:
    # CPU time of this process: other work on a shared machine does not count against it.
    started = time.process_time()
    html_to_text(html)
    assert time.process_time() - started < 2.0
