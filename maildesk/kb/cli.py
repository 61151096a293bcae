"""`maildesk kb search "text" [--queue Q] [--language L] [--json]`: the ranking a new mail
with this text would get, every entry with a score, and which ones pass `kb.min_score`."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from maildesk.config import Config

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction, parser_class: type) -> None:  # type: ignore[type-arg]
    kb = sub.add_parser("kb", help="the knowledge base: search it as a new mail would")
    kb_sub = kb.add_subparsers(dest="kb_command", required=True, parser_class=parser_class)
    s = kb_sub.add_parser("search", help="rank the entries for a text, with their scores")
    s.add_argument("text", help="the question, as a customer would write it ('-': stdin)")
    s.add_argument("--subject", default="", help="a subject line, read with the text")
    s.add_argument("--queue", help="only entries offered in this queue")
    s.add_argument("--language", help="search this language (default: the text's own)")
    s.add_argument("--json", action="store_true")
    kb_sub.add_parser("list", help="every entry: name, language, queues, title")


def run(args: argparse.Namespace, config: Config) -> int:
    from maildesk.kb.library import library

    lib = library(config)
    if config.kb.path is None:
        print("maildesk: no knowledge base configured (kb.path)", file=sys.stderr)
        return 78
    if args.kb_command == "list":
        for entry in sorted(lib.index.entries.values(), key=lambda e: (e.language, e.name)):
            queues = ",".join(entry.queues) or "*"
            print(f"{entry.name:<32} {entry.language:<3} {queues:<16} {entry.title}")
        return 0
    from maildesk.kb.query import question

    text = sys.stdin.read() if args.text == "-" else args.text
    ranking = lib.search(question(args.subject, text), language=args.language,
                         fallback=config.instance.default_language, queue=args.queue)
    threshold = config.kb.min_score
    offered = [h for h in ranking.hits if h.score >= threshold][: config.kb.suggestions]
    if args.json:
        print(json.dumps({
            "language": ranking.language, "terms": ranking.terms, "min_score": threshold,
            "results": [{"name": h.entry.name, "title": h.entry.title,
                         "score": round(h.score, 4), "offered": h in offered}
                        for h in ranking.hits],
        }, ensure_ascii=False, indent=1))
        return 0
    print(f"language: {ranking.language or '-'}  terms: {' '.join(ranking.terms) or '-'}  "
          f"min_score: {threshold:g}")
    if not ranking.hits:
        print("no entry matches")
    for h in ranking.hits:
        mark = "*" if h in offered else " "
        print(f"{mark} {h.score:8.3f}  {h.entry.name:<32} {h.entry.title}")
    if ranking.hits and not offered:
        print("(none reaches min_score: a mail with this text gets no suggestion)")
    return 0
