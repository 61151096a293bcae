"""ArticleStore.put takes the sha256 the pipeline computed already (`key=`): the same file,
the same key, as when it hashes the bytes itself."""

from __future__ import annotations

import hashlib
from pathlib import Path

from maildesk.store.articles import ArticleStore


def test_put_with_the_callers_digest_stores_what_put_alone_does(tmp_path: Path) -> None:
    data = b"From: a@example.com\r\n\r\n" + b"x" * 100_000
    digest = hashlib.sha256(data).hexdigest()
    given = ArticleStore(tmp_path / "given").put(None, data, key=digest)  # type: ignore[arg-type]
    alone = ArticleStore(tmp_path / "alone").put(None, data)  # type: ignore[arg-type]
    assert given == alone == digest
    for root in ("given", "alone"):
        stored = tmp_path / root / "articles" / digest[:2] / digest[2:4] / digest
        assert stored.read_bytes() == data
