"""Routing rules (SPEC 5): default queue by address, then the rules in order."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from maildesk.config import Config, Pattern, Rule, load_config
from maildesk.intake.message import Attachment, Envelope, ParsedMail
from maildesk.routing import Route, format_route, route

BASE = (Path(__file__).parent / "fixtures" / "configs" / "routing.yaml").read_text()


def config_with(tmp_path: Path, rules: str = "") -> Config:
    text = BASE + ("rules:\n" + textwrap.indent(textwrap.dedent(rules), "  ") if rules else "")
    path = tmp_path / "maildesk.yaml"
    path.write_text(text)
    return load_config(path)


def mail(**kw: object) -> ParsedMail:
    fields: dict[str, object] = {
        "subject": "Hello",
        "from_addr": "jane@customer.org",
        "to": ["support@example.com"],
        "body": "Hi there,\nmy printer is broken.\n",
    }
    fields.update(kw)
    return ParsedMail(**fields)  # type: ignore[arg-type]


ENV = Envelope(sender="jane@customer.org", recipients=("support@example.com",))


def run(
    config: Config,
    m: ParsedMail | None = None,
    env: Envelope = ENV,
    *,
    known_customer: bool = False,
    followup: bool = False,
) -> Route:
    return route(config, m or mail(), env, known_customer=known_customer, followup=followup)


# --------------------------------------------------------------------------- default queue


def test_default_queue_from_envelope_recipient_subaddress(tmp_path: Path) -> None:
    config = config_with(tmp_path)
    env = Envelope(recipients=("other@elsewhere.org", "Billing+ABC123@Example.com"))
    r = run(config, mail(to=["support@example.com"]), env)
    assert (r.queue, r.matched, r.priority, r.state, r.owner) == ("Billing", [], None, None, None)
    assert (r.tags, r.language, r.autoresponse, r.ignore, r.reject) == ((), None, True, False, None)


def test_default_queue_from_to_then_cc_then_first_queue(tmp_path: Path) -> None:
    config = config_with(tmp_path)
    no_rcpt = Envelope(sender="x@y.org")
    assert run(config, mail(to=["a@b.org", "sales@example.com"]), no_rcpt).queue == "Sales"
    assert run(config, mail(to=["a@b.org"], cc=["junk@example.com"]), no_rcpt).queue == "Junk"
    assert run(config, mail(to=[], cc=[]), no_rcpt).queue == "Support"


# --------------------------------------------------------------------------- conditions


@pytest.mark.parametrize(
    ("condition", "value", "hit", "miss"),
    [
        ("recipient", "sales@*", Envelope(recipients=("sales@example.com",)), ENV),
        ("to", "*@partner.org", mail(to=["x@partner.org"]), mail()),
        ("cc", "boss@customer.org", mail(cc=["Boss@Customer.org"]), mail(cc=["b@c.org"])),
        ("from", "*@bigcorp.com", mail(from_addr="ceo@bigcorp.com"), mail()),
        ("sender_domain", "bigcorp.com", mail(from_addr="ceo@BigCorp.com"), mail()),
        ("subject", "*invoice*", mail(subject="Your Invoice 42"), mail()),
        ("body", "*refund*", mail(body="Hello\nI want a REFUND.\nBye"), mail()),
    ],
)
def test_each_text_condition(
    tmp_path: Path, condition: str, value: str, hit: object, miss: object
) -> None:
    config = config_with(
        tmp_path, f"- {{name: r, match: {{{condition}: '{value}'}}, set: {{queue: Sales}}}}\n"
    )

    def routed(x: object) -> str:
        if isinstance(x, Envelope):
            return run(config, mail(), x).queue
        assert isinstance(x, ParsedMail)
        return run(config, x).queue

    assert routed(hit) == "Sales"
    assert routed(miss) == "Support"


def test_sender_domain_falls_back_to_the_envelope_sender(tmp_path: Path) -> None:
    config = config_with(tmp_path, "- {match: {sender_domain: bigcorp.com}, set: {queue: Sales}}\n")
    env = Envelope(sender="bounce@bigcorp.com", recipients=("support@example.com",))
    assert run(config, mail(from_addr=None), env).queue == "Sales"
    assert run(config, mail(from_addr="x@other.org"), env).queue == "Support"  # From wins


def test_missing_from_matches_nothing_not_even_star(tmp_path: Path) -> None:
    config = config_with(tmp_path, "- {match: {from: '*'}, set: {queue: Sales}}\n")
    assert run(config, mail(from_addr=None)).queue == "Support"


def test_header_match_any_of_repeated_headers(tmp_path: Path) -> None:
    config = config_with(
        tmp_path,
        """\
        - name: spam
          match: {header: {X-Spam-Flag: "YES"}}
          set: {queue: Junk}
        """,
    )
    spam = mail(headers=[("Received", "a"), ("x-spam-flag", "no"), ("X-SPAM-FLAG", "yes")])
    assert run(config, spam).queue == "Junk"
    assert run(config, mail(headers=[("X-Spam-Flag", "NO")])).queue == "Support"
    assert run(config, mail(headers=[])).queue == "Support"


def test_several_headers_must_all_match(tmp_path: Path) -> None:
    config = config_with(
        tmp_path,
        "- {match: {header: {List-Id: '*', Precedence: [bulk, list]}}, set: {queue: Junk}}\n",
    )
    both = mail(headers=[("List-Id", "<x.lists.org>"), ("Precedence", "list")])
    one = mail(headers=[("List-Id", "<x.lists.org>"), ("Precedence", "first-class")])
    assert run(config, both).queue == "Junk"
    assert run(config, one).queue == "Support"


def test_has_attachment(tmp_path: Path) -> None:
    config = config_with(
        tmp_path,
        """\
        - {name: with, match: {has_attachment: true}, set: {tags: [files]}}
        - {name: without, match: {has_attachment: false}, set: {tags: [plain]}}
        """,
    )
    att = Attachment("a.pdf", "application/pdf", b"%PDF", 4, "0" * 64)
    assert run(config, mail(attachments=[att])).tags == ("files",)
    assert run(config, mail()).tags == ("plain",)


def test_known_customer(tmp_path: Path) -> None:
    config = config_with(
        tmp_path,
        """\
        - {name: known, match: {known_customer: true}, set: {priority: high}}
        - {name: unknown, match: {known_customer: false}, set: {priority: low}}
        """,
    )
    assert run(config, known_customer=True).priority == 4
    assert run(config, known_customer=False).priority == 2


def test_all_conditions_must_hold(tmp_path: Path) -> None:
    config = config_with(
        tmp_path,
        "- {match: {from: '*@bigcorp.com', subject: '*urgent*'}, set: {priority: 5}}\n",
    )
    assert run(config, mail(from_addr="a@bigcorp.com", subject="URGENT: down")).priority == 5
    assert run(config, mail(from_addr="a@bigcorp.com", subject="hello")).priority is None
    assert run(config, mail(subject="urgent")).priority is None


def test_list_values_any_may_match_globs_and_regexes(tmp_path: Path) -> None:
    config = config_with(
        tmp_path,
        """\
        - match: {from: ["*@bigcorp.com", {regex: "^ceo@"}, exact@x.org]}
          set: {queue: Sales}
        """,
    )
    for sender in ("a@bigcorp.com", "ceo@anywhere.net", "EXACT@x.org"):
        assert run(config, mail(from_addr=sender)).queue == "Sales", sender
    for sender in ("a@bigcorp.com.evil", "theceo@x.org", "notexact@x.org"):
        assert run(config, mail(from_addr=sender)).queue == "Support", sender


def test_regex_is_search_and_case_sensitive_unless_asked(tmp_path: Path) -> None:
    config = config_with(
        tmp_path,
        """\
        - name: ci
          match: {subject: {regex: "(?i)invoice|factura|rechnung"}}
          set: {queue: Billing}
        - {name: cs, match: {body: {regex: "ORDER-\\\\d+"}}, set: {tags: [order]}}
        """,
    )
    assert run(config, mail(subject="Ihre RECHNUNG Nr. 5")).queue == "Billing"
    assert run(config, mail(body="see ORDER-123 please")).tags == ("order",)
    assert run(config, mail(body="see order-123 please")).tags == ()


def test_glob_is_whole_value_and_brackets_are_literal(tmp_path: Path) -> None:
    config = config_with(tmp_path, "- {match: {subject: '[urgent]*'}, set: {priority: 5}}\n")
    assert run(config, mail(subject="[URGENT] printer")).priority == 5
    assert run(config, mail(subject="Re: [urgent] printer")).priority is None
    assert run(config, mail(subject="u printer")).priority is None


def test_rule_without_conditions_matches_everything(tmp_path: Path) -> None:
    config = config_with(tmp_path, "- {name: everything, set: {tags: [all]}}\n")
    assert run(config).matched == ["everything"]


# --------------------------------------------------------------------------- actions


def test_every_action(tmp_path: Path) -> None:
    config = config_with(
        tmp_path,
        """\
        - name: all actions
          set: {queue: Billing, priority: very high, state: open, owner: Alice@Example.com,
                tags: [a, b], language: de}
          autoresponse: false
        """,
    )
    r = run(config)
    assert r.matched == ["all actions"]
    assert (r.queue, r.priority, r.state, r.owner) == ("Billing", 5, "open", "alice@example.com")
    assert (r.tags, r.language, r.autoresponse) == (("a", "b"), "de", False)
    assert (r.ignore, r.reject) == (False, None)


def test_ignore_and_reject(tmp_path: Path) -> None:
    config = config_with(
        tmp_path,
        """\
        - {name: spam, match: {header: {X-Spam-Flag: "YES"}}, ignore: true}
        - {name: bulk, match: {header: {Precedence: bulk}}, reject: "No bulk mail, please"}
        """,
    )
    spam = run(config, mail(headers=[("X-Spam-Flag", "YES")]))
    assert (spam.ignore, spam.reject) == (True, None)
    bulk = run(config, mail(headers=[("Precedence", "bulk")]))
    assert (bulk.ignore, bulk.reject) == (False, "No bulk mail, please")


def test_later_rules_override_and_tags_accumulate(tmp_path: Path) -> None:
    config = config_with(
        tmp_path,
        """\
        - {name: one, set: {queue: Billing, priority: 2, tags: [x, y]}, autoresponse: false}
        - {name: two, set: {queue: Sales, priority: 4, tags: [y, z]}, autoresponse: true}
        """,
    )
    r = run(config)
    assert r.matched == ["one", "two"]
    assert (r.queue, r.priority, r.tags, r.autoresponse) == ("Sales", 4, ("x", "y", "z"), True)


def test_stop_ends_the_list(tmp_path: Path) -> None:
    config = config_with(
        tmp_path,
        """\
        - {name: spam, match: {subject: "*viagra*"}, set: {queue: Junk}, stop: true}
        - {name: later, set: {queue: Sales}}
        """,
    )
    assert run(config, mail(subject="cheap VIAGRA")).matched == ["spam"]
    assert run(config, mail(subject="cheap VIAGRA")).queue == "Junk"
    assert run(config).matched == ["later"]  # stop only counts when its rule matched


def test_followups_run_only_rules_that_say_so(tmp_path: Path) -> None:
    config = config_with(
        tmp_path,
        """\
        - {name: new only, set: {queue: Billing}}
        - {name: always, set: {tags: [seen]}, followups: true}
        """,
    )
    new = run(config)
    assert (new.matched, new.queue) == (["new only", "always"], "Billing")
    follow = run(config, followup=True)
    assert (follow.matched, follow.queue, follow.tags) == (["always"], "Support", ("seen",))
    assert follow.followup is True


def test_hand_built_rules_with_priority_names_and_string_tags(tmp_path: Path) -> None:
    """Other modules may build Rules directly; route normalises what the loader would."""
    config = config_with(tmp_path)
    rule = Rule(
        name="hand",
        match={"subject": (Pattern("*"),)},
        set={"priority": "very low", "tags": "one"},
    )
    r = route(
        Config(**{**config.__dict__, "rules": (rule,)}),
        mail(),
        ENV,
        known_customer=False,
        followup=False,
    )
    assert (r.priority, r.tags) == (1, ("one",))


# --------------------------------------------------------------------------- format_route


def test_format_route_names_rules_with_lines_and_every_field(tmp_path: Path) -> None:
    config = config_with(
        tmp_path,
        """\
        - name: invoices go to billing
          match: {subject: {regex: "(?i)invoice"}}
          set: {queue: Billing, priority: 4, tags: [money]}
        - name: spam
          match: {header: {X-Spam-Flag: "YES"}}
          autoresponse: false
          stop: true
        """,
    )
    r = run(config, mail(subject="Invoice", headers=[("X-Spam-Flag", "YES")]))
    lines = (tmp_path / "maildesk.yaml").read_text().splitlines()
    first, second = config.rules
    assert "invoices go to billing" in lines[first.line - 1]
    assert "name: spam" in lines[second.line - 1]
    assert format_route(r) == (
        "matching rules:\n"
        f"  line {first.line}: invoices go to billing\n"
        f"  line {second.line}: spam (stop)\n"
        "queue:        Billing (by address: Support)\n"
        "priority:     4 high\n"
        "state:        new (default)\n"
        "owner:        - (default)\n"
        "tags:         money\n"
        "language:     - (default)\n"
        "autoresponse: no (suppressed by a rule)\n"
        "ignore:       no\n"
        "reject:       no"
    )


def test_format_route_without_matches_and_with_flags(tmp_path: Path) -> None:
    config = config_with(tmp_path)
    text = format_route(run(config))
    assert text.startswith("matching rules: none\nqueue:        Support\n")
    assert "priority:     3 normal (default)\n" in text
    assert "autoresponse: yes\n" in text
    flagged = Route(queue="Junk", ignore=True, reject="go away", followup=True)
    text = format_route(flagged)
    assert "ignore:       yes: nothing would be stored\n" in text
    assert text.endswith("reject:       yes: go away")
    assert "priority:     unchanged\n" in text and "state:        unchanged\n" in text
