"""The shared corpus through maildesk's parser and through the whole pipeline, in CPU
seconds, beside a yardstick measured in the same run: the standard library's own parse
(`email.message_from_bytes`, compat32) of the same files. These were wall-clock budgets in
tests/intake/test_corpus_parse.py and tests/test_corpus_pipeline.py (45 s and 120 s);
tests now assert behaviour only, and the figures live here.

    .venv/bin/python bench/corpus.py [CORPUS]
"""

from __future__ import annotations

import email
import logging
import sys
import tempfile
import time
from email.policy import compat32
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from maildesk.intake.message import Envelope  # noqa: E402
from maildesk.intake.parse import parse_message  # noqa: E402
from tests.conftest import BASE_CONFIG  # noqa: E402
from tests.intake.test_corpus_parse import corpus_inputs  # noqa: E402


def cpu(work) -> float:  # type: ignore[no-untyped-def]
    started = time.process_time()
    work()
    return time.process_time() - started


def main() -> None:
    logging.disable(logging.WARNING)  # the corpus trips the auto-response cap: expected, noise
    files = [p.read_bytes() for p in corpus_inputs()]
    size = sum(len(raw) for raw in files)
    stdlib = cpu(lambda: [email.message_from_bytes(raw, policy=compat32) for raw in files])
    ours = cpu(lambda: [parse_message(raw) for raw in files])
    print(f"{len(files)} mails, {size / 1e6:.1f} MB")
    print(f"stdlib parse (yardstick): {stdlib:6.2f} s CPU")
    print(f"maildesk parse:           {ours:6.2f} s CPU  ({ours / stdlib:.2f}x the yardstick)")
    from maildesk.app import ensure_secret, open_app
    from maildesk.config import load_config
    from maildesk.store.migrate import upgrade

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "maildesk.yaml"
        path.write_text(BASE_CONFIG.format(database=f"sqlite:///{folder}/md.db",
                                           articles="filesystem", relay_port=2525))
        config = load_config(path)
        ensure_secret(config.instance.secret_file)
        app = open_app(config)
        upgrade(app.db)
        envelope = Envelope(sender="someone@example.org", recipients=("support@example.com",))
        whole = cpu(lambda: [app.ingest(raw, envelope) for raw in files])
        app.close()
    print(f"whole pipeline (SQLite):  {whole:6.2f} s CPU  ({whole / stdlib:.1f}x the yardstick)")


if __name__ == "__main__":
    main()
