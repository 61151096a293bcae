"""The everyday header block is cut into fields without the feed parser (issue 20,
`parse._plain_header_tree`): the same tree as the feed parser's for every corpus mail,
as stored and with every line end made CRLF (what SMTP brings)."""

from __future__ import annotations

import re

from maildesk.intake.parse import _HEAD_AND_END_LINE, _plain_header_tree, _tree
from tests.conftest import needs_corpus
from tests.intake.test_corpus_parse import corpus_inputs
from tests.intake.test_single_part_tree import _shape


@needs_corpus
def test_the_corpus_header_blocks_give_the_feed_parsers_tree() -> None:
    taken = 0
    for path in corpus_inputs():
        raw = path.read_bytes()
        for data in (raw, re.sub(rb"\r?\n", b"\r\n", raw)):
            match = _HEAD_AND_END_LINE.match(data)
            head = data[: match.end() if match else 0]
            fast = _plain_header_tree(head)
            if fast is not None:
                taken += 1
                assert _shape(fast) == _shape(_tree(head, headers_only=True)), path
    assert taken > 500
