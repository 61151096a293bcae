"""What the knowledge base costs a `maildesk deliver` run in process (issue 19): each run
is a new process, so it loads the folder and builds the BM25 index for the one mail.
Measured as CPU time (load-independent enough on a shared machine), beside the yardstick
of the same run: a `deliver` of the same new-ticket mail to a desk without a knowledge base.

    .venv/bin/python bench/kb_load.py [--runs 6]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import make_desk, simple_mail  # noqa: E402
from tests.kb.conftest import kb_desk  # noqa: E402

PARTS = """
import time
c = time.process_time
t0 = c()
import maildesk.kb.library as library
t1 = c()
import bm25s
t2 = c()
from maildesk.kb.entries import load_entries
from maildesk.kb.ranking import Index
entries, _ = load_entries(library.EXAMPLE, ["Support", "Billing"])
t3 = c()
Index(entries)
t4 = c()
print(f"{1000 * (t1 - t0):.0f} {1000 * (t2 - t1):.0f} {1000 * (t3 - t2):.0f} "
      f"{1000 * (t4 - t3):.0f} {len(entries)}")
"""


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=6)
    args = p.parse_args()
    parts = [list(map(float, subprocess.run([sys.executable, "-c", PARTS], check=True,
                                            capture_output=True, text=True).stdout.split()))
             for _ in range(args.runs)]
    med = [statistics.median(col) for col in zip(*parts, strict=True)]
    print(f"fresh process, CPU ms (median of {args.runs}): import maildesk.kb {med[0]:.0f}, "
          f"import bm25s+numpy {med[1]:.0f}, load {int(med[4])} entries {med[2]:.0f}, "
          f"build the index {med[3]:.0f}")
    root = Path(tempfile.mkdtemp(prefix="maildesk-bench-kb-"))
    desks = {"with kb": kb_desk(root / "kb"), "without": make_desk(root / "none")}
    cpu: dict[str, list[float]] = {name: [] for name in desks}
    for i in range(args.runs):
        for name, desk in desks.items():
            raw = simple_mail(subject=f"I forgot my password ({i})", sender=f"c{i}@example.org",
                              body="Hi, I forgot my password and cannot log in.\n")
            before = children_cpu()
            assert desk.deliver(raw, sender=f"c{i}@example.org") == 0
            cpu[name].append(1000 * (children_cpu() - before))
    kb, plain = (statistics.median(cpu[n]) for n in desks)
    print(f"deliver of a new ticket, CPU ms (median of {args.runs}): with kb {kb:.0f}, "
          f"without {plain:.0f} (yardstick): {kb / plain:.2f}x; loading and indexing "
          f"the folder is {(med[2] + med[3]) / kb:.0%} of the run with kb")


if __name__ == "__main__":
    main()
