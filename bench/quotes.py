"""CPU of `agents.quotes.reply_text` on 100 KB replies, before and after the issue-20 speed-up.

"before" is the frozen old implementation kept as the unit tests' oracle
(tests/unit/quotes_oracle.py), "after" is maildesk's; both are measured in the same run
beside a yardstick, one plain regex pass over the same text (`^[ \\t]*>` multiline), so the
ratios hold on a busy machine. Replies are built from the fixture mails' lines
(tests/fixtures/emails/): plain text, a reply with its quote (each line also quoted),
an all-quote reply, and 33,000 "--" lines with no text above them (the old signature
scan sliced the classes above every one of them).

    .venv/bin/python bench/quotes.py [--repeat N]
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from maildesk.agents.quotes import reply_text  # noqa: E402
from tests.unit.quotes_oracle import reply_text_oracle  # noqa: E402

SIZE = 100_000
YARDSTICK = re.compile(r"^[ \t]*>", re.MULTILINE)


def fixture_lines() -> list[str]:
    out = []
    for path in sorted((REPO / "tests" / "fixtures" / "emails").glob("*.eml")):
        text = path.read_bytes().decode("utf-8", "replace")
        body = text.split("\n\n", 1)[-1]
        out += [x for x in body.splitlines() if x.strip() and not x.startswith(">")
                and len(x) < 200 and " " in x]
    return out


def build(lines: list[str], shape: str) -> str:
    parts: list[str] = []
    size, i = 0, 0
    while size < SIZE:
        line = lines[i % len(lines)]
        new = {"text": [line], "reply": [line, "> " + line], "quote": ["> " + line],
               "dashes": ["--"]}[shape]
        parts += new
        size += sum(len(x) + 1 for x in new)
        i += 1
    return "\n".join(parts)


def cpu_ms(fn: Callable[[str], object], text: str, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        fn(text)
        best = min(best, time.process_time() - start)
    return best * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs (default 3)")
    args = parser.parse_args()
    lines = fixture_lines()
    print(f"{'100 KB reply':<12} {'lines':>6} {'yardstick':>10} {'before':>10} {'after':>10} "
          f"{'before/yd':>10} {'after/yd':>9} {'speed-up':>9}")
    for shape in ("text", "reply", "quote", "dashes"):
        text = build(lines, shape)
        assert reply_text(text) == reply_text_oracle(text), shape
        yard = cpu_ms(lambda t: YARDSTICK.findall(t), text, max(args.repeat, 20))
        before = cpu_ms(reply_text_oracle, text, args.repeat)
        after = cpu_ms(reply_text, text, args.repeat)
        print(f"{shape:<12} {text.count(chr(10)) + 1:>6} {yard:>8.2f}ms {before:>8.0f}ms "
              f"{after:>8.0f}ms {before / yard:>9.0f}x {after / yard:>8.0f}x "
              f"{before / after:>8.1f}x")


if __name__ == "__main__":
    main()
