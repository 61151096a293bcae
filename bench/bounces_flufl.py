"""How maildesk's bounce reading compares with flufl.bounce (Mailman's detectors) on the
corpus's bounces: the share of bounces whose failed recipient each one finds, on
flufl.bounce's own test mails (its expected addresses) and on deliveryboy's cases (their
original_to). Three columns: maildesk's own DSN parse alone (`classify.dsn`), maildesk as
shipped (that parse, then Mailman's detectors on the parsed mail: `classify.mailman`), and
flufl.bounce alone on the raw mail (a second, unbounded parse maildesk does not make).
Not a speed figure: run it by hand after changing maildesk/classify/; docs/bounces.md has
the figures and what was decided from them.

    .venv/bin/python bench/bounces_flufl.py CORPUS
"""

from __future__ import annotations

import csv
import email
import sys
from email.policy import compat32
from pathlib import Path

import yaml
from flufl.bounce import all_failures

from maildesk.classify import bounce as bounce_rule
from maildesk.classify import classify
from maildesk.config import load_config
from maildesk.intake.message import Envelope
from maildesk.intake.parse import parse_message

REPO = Path(__file__).resolve().parents[1]


def maildesk_recipients(config, raw: bytes) -> set[str]:  # type: ignore[no-untyped-def]
    result = classify(parse_message(raw, config.limits), Envelope(sender="", recipients=(
        "support@example.org",)), config)
    return set(result.bounce.recipients) if result.bounce else set()


def flufl_recipients(raw: bytes) -> set[str]:
    try:
        temporary, permanent = all_failures(email.message_from_bytes(raw, policy=compat32))
    except Exception:  # noqa: BLE001 - a detector that raises finds nothing
        return set()
    return {a.decode("utf-8", "replace").lower() for a in temporary | permanent}


def cases(corpus: Path) -> list[tuple[str, bytes, set[str]]]:
    out = []
    flufl = corpus / "bounces" / "flufl-bounce"
    with (flufl / "expected.tsv").open(newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            want = {a.strip().lower() for a in row["expected_addresses"].split(",") if a.strip()}
            if want:
                out.append((f"flufl/{row['file']}", (flufl / row["file"]).read_bytes(), want))
    boy = corpus / "bounces" / "deliveryboy"
    for name, exp in sorted(yaml.safe_load((boy / "bounce_cases.yml").read_text()).items()):
        if exp.get("original_to"):
            raw = (boy / "bounce_cases" / f"{name}.eml").read_bytes()
            out.append((f"deliveryboy/{name}", raw, {exp["original_to"].lower()}))
    return out


def main() -> None:
    corpus = Path(sys.argv[1] if len(sys.argv) > 1 else REPO.parent / "shared" / "corpus")
    config = load_config(REPO / "tests" / "fixtures" / "configs" / "minimal.yaml")
    totals: dict[str, list[int]] = {}
    only: dict[str, list[str]] = {"maildesk": [], "flufl": []}
    shipped = bounce_rule.detected_recipients
    for name, raw, want in cases(corpus):
        bounce_rule.detected_recipients = lambda mail: []  # type: ignore[assignment]
        alone = want <= maildesk_recipients(config, raw)
        bounce_rule.detected_recipients = shipped
        ours = want <= maildesk_recipients(config, raw)
        theirs = want <= flufl_recipients(raw)
        t = totals.setdefault(name.split("/")[0], [0, 0, 0, 0])
        t[0] += 1
        t[1] += alone
        t[2] += ours
        t[3] += theirs
        if ours != theirs:
            only["maildesk" if ours else "flufl"].append(name)
    for set_name, (n, alone, ours, theirs) in totals.items():
        print(f"{set_name}: {n} bounces, recipient found by maildesk's DSN parse {alone}, "
              f"by maildesk with Mailman's detectors {ours}, by flufl.bounce on the raw "
              f"mail {theirs}")
    for who, names in only.items():
        print(f"only {who} ({len(names)}): {' '.join(names)}")


if __name__ == "__main__":
    main()
