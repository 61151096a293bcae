"""Every mail of the shared corpus through the whole pipeline (`App.ingest`): each is
stored (a ticket article, or kept raw in a spool: unmatched bounces, mails that hit a bug)
or refused with 554/65 where it is truly not mail; none raises; the raw bytes are kept
exactly; the whole corpus in well under a minute."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from maildesk.intake.contentkey import content_key
from maildesk.intake.message import Envelope
from maildesk.store.articles import sha256
from maildesk.store.models import Article
from tests.conftest import Desk, needs_corpus
from tests.intake.test_corpus_parse import corpus_inputs

pytestmark = needs_corpus

NOT_MAIL = {"mail_outlook_1", "empty.txt"}  # an Outlook .msg (OLE binary), an empty file


def test_every_corpus_mail_is_stored_or_refused_as_not_mail(desk: Desk) -> None:
    files = corpus_inputs()
    assert len(files) > 1000
    app = desk.app()
    envelope = Envelope(sender="someone@example.org", recipients=("support@example.com",))
    outcomes: dict[Path, tuple[str, int]] = {}
    for path in files:
        raw = path.read_bytes()
        outcome = app.ingest(raw, envelope)
        outcomes[path] = (outcome.result, outcome.code)

    refused = {p.name for p, (_, code) in outcomes.items() if code >= 500}
    assert refused == NOT_MAIL, refused
    assert all(code in (250, 554) for _, code in outcomes.values())
    assert len(app.failed) == 0, [app.failed.get(i).reason for i in app.failed.ids()[:3]]

    # Raw bytes kept exactly: every stored article's bytes hash to what was received.
    with app.db.reading() as session:
        rows = session.execute(select(Article.raw_sha256, Article.raw_key,
                                      Article.content_sha256)).all()
        stored = {digest for digest, _, _ in rows}
        contents = {content for _, _, content in rows}
        for digest, key, _ in rows:
            assert sha256(app.store.get(session, key)) == digest
    spooled = {sha256(app.unmatched.get(i).raw) for i in app.unmatched.ids()}
    for path, (result, code) in outcomes.items():
        if code == 250:
            digest = sha256(path.read_bytes())
            if result == "duplicate":  # the same mail as another file, other line ends
                from maildesk.intake.parse import parse_message

                raw = path.read_bytes()
                key = content_key(raw, parse_message(raw, app.config.limits).message_id)
                assert key in contents, path
                continue
            assert digest in stored or digest in spooled, (path, result)
    app.close()
