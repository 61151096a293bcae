"""The config loader: every value typed, every problem reported as file:line: message."""

from __future__ import annotations

import textwrap
from importlib import resources
from pathlib import Path

import pytest

from maildesk.config import (
    AUTORESPONSE_DEFAULTS,
    ConfigError,
    Pattern,
    find_config,
    load_config,
    parse_duration,
    parse_hostport,
    parse_priority,
    parse_size,
)

FIXTURES = Path(__file__).parent / "fixtures" / "configs"
D = textwrap.dedent
QUEUE = "queues:\n  - name: Support\n    address: support@example.com\n"


def write(tmp_path: Path, text: str, name: str = "maildesk.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def errors(tmp_path: Path, text: str) -> list[str]:
    """The messages of loading `text`, without the file name prefix."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    prefix = f"{path}:"
    assert all(m.startswith(prefix) for m in info.value.messages), info.value.messages
    return [m[len(prefix) :] for m in info.value.messages]


# --------------------------------------------------------------------------- good configs


def test_example_config_loads_with_the_documented_shape() -> None:
    text = resources.files("maildesk").joinpath("example.yaml").read_text()
    path = Path(str(resources.files("maildesk").joinpath("example.yaml")))
    config = load_config(path)
    assert [q.name for q in config.queues] == ["Support", "Billing", "Junk"]
    assert [q.address for q in config.queues][:2] == ["support@example.com", "billing@example.com"]
    assert [a.address for a in config.agents] == ["alice@example.com", "bob@example.com"]
    assert config.listen.smtp == ("127.0.0.1", 2525)
    assert config.listen.lmtp == ("127.0.0.1", 2424)
    assert config.database == f"sqlite:///{path.parent / 'var' / 'maildesk.db'}"
    assert config.storage.path == path.parent / "var"
    assert config.outbound.bounce_address == "bounces@example.com"
    assert [r.name for r in config.rules] == [
        "invoices go to billing",
        "mail the MTA flagged as spam",
    ]
    assert config.rules[0].set == {"queue": "Billing", "priority": 4}
    spam = config.rules[1]
    assert spam.headers["X-Spam-Flag"][0].matches("YES")
    assert (spam.set, spam.autoresponse, spam.stop) == ({"queue": "Junk"}, False, True)
    # every SPEC 12 key appears in the example, and the rules' lines point at them
    for key in (
        "system_id:",
        "ticket_hook:",
        "number_format:",
        "secret_file:",
        "on_closed_followup:",
    ):
        assert key in text
    lines = text.splitlines()
    assert "invoices go to billing" in lines[config.rules[0].line - 1]
    assert "mail the MTA flagged as spam" in lines[config.rules[1].line - 1]


def test_every_key_is_read(tmp_path: Path) -> None:
    config = load_config(FIXTURES / "full.yaml")
    base = FIXTURES
    i = config.instance
    assert (i.name, i.system_id, i.ticket_hook, i.number_format) == (
        "ACME Help",
        42,
        "ACME#",
        "counter",
    )
    assert i.secret_file == base / "secrets" / "hmac"
    assert (i.default_language, i.domain, i.autoresponse_daily_cap) == ("de", "help.acme.test", 3)
    assert i.trusted_authserv_ids == ("mx1.acme.test", "mx2.acme.test")
    assert (i.require_token_and_dkim, i.reopen_days) == (True, 7)
    assert config.database == f"sqlite:///{base / 'data' / 'tickets.db'}?timeout=30"
    assert config.storage.path == base / "store"
    assert config.storage.articles == "database"
    listen = config.listen
    assert (listen.smtp, listen.lmtp) == (("::1", 2525), None)
    assert listen.max_message_size == 10 * 1024 * 1024
    assert (listen.max_recipients, listen.max_line_length, listen.idle_timeout) == (50, 2000, 120.0)
    assert (listen.max_connections, listen.max_connections_per_client) == (10, 2)
    assert listen.tls_cert == base / "tls" / "cert.pem"
    assert listen.tls_key == Path("/etc/ssl/key.pem")
    assert listen.require_starttls is True
    out = config.outbound
    assert out.relay == ("smtp.acme.test", 587)
    assert (out.starttls, out.username, out.password_file) == (True, "maildesk", base / "relay.pw")
    assert out.bounce_address == "returns@acme.test"
    assert (out.retry_first, out.retry_max, out.give_up_after) == (10.0, 5400.0, 172800.0)
    lim = config.limits
    assert (lim.max_header_bytes, lim.max_mime_depth, lim.max_parts) == (65536, 10, 100)
    assert (lim.max_decoded_bytes, lim.parse_seconds) == (1_000_000, 2.5)
    assert config.templates == base / "my-templates"
    support, sales = config.queues
    assert support.address == "support@acme.test"  # stored lowercase
    assert support.language == "no"  # YAML 1.1 would have made Norwegian False
    assert support.autoresponse == {
        "new": False,
        "followup": False,
        "reject": True,
        "closed_followup": False,
    }
    assert (support.on_closed_followup, support.require_known_customer) == ("new_ticket", True)
    assert support.require_token_and_dkim is False
    assert (support.line, sales.line) == (47, 56)
    assert sales.autoresponse == AUTORESPONSE_DEFAULTS
    assert sales.require_token_and_dkim is None
    assert config.groups == {
        "support": {"Support": frozenset({"read", "note", "reply"}), "Sales": frozenset({"read"})}
    }
    carol, dave = config.agents
    assert (carol.address, carol.groups, carol.language, carol.line) == (
        "carol@acme.test",
        ("support",),
        "pt-BR",
        64,
    )
    assert config.permissions(carol, "Support") == {"read", "note", "reply"}
    assert config.permissions(dave, "Support") == frozenset()
    vip, spam, bulk = config.rules
    assert vip.set == {
        "priority": 5,
        "state": "open",
        "owner": "carol@acme.test",
        "tags": ("vip", "urgent"),
        "language": "en",
    }
    assert (vip.has_attachment, vip.known_customer, vip.followups, vip.line) == (
        True,
        False,
        True,
        70,
    )
    assert [p.text for p in vip.match["from"]] == ["*@bigcorp.test", "^ceo@"]
    assert vip.match["from"][1].regex is not None
    assert spam.name == "rule 2"  # unnamed rules are numbered
    assert spam.headers["X-Spam-Flag"][0].text == "YES"  # unquoted YES stays text
    assert (spam.ignore, spam.stop) == (True, True)
    assert (bulk.reject, bulk.autoresponse) == ("We do not accept bulk mail", False)


def test_defaults_and_paths_relative_to_the_config_file(tmp_path: Path) -> None:
    config = load_config(FIXTURES / "minimal.yaml")
    assert config.path == FIXTURES / "minimal.yaml"
    assert config.instance.domain == "example.org"  # the first queue's domain
    assert config.outbound.bounce_address == "bounces@example.org"
    assert config.storage.path == FIXTURES / "var"
    assert config.instance.secret_file == FIXTURES / "var" / "secret"
    assert config.database == f"sqlite:///{FIXTURES / 'var' / 'maildesk.db'}"
    assert config.listen.smtp == ("127.0.0.1", 2525) and config.listen.lmtp is None
    assert config.queues[0].autoresponse == AUTORESPONSE_DEFAULTS
    assert (config.groups, config.agents, config.rules) == ({}, (), ())


def test_database_default_follows_storage_path_and_explicit_domain(tmp_path: Path) -> None:
    path = write(tmp_path, "instance: {domain: Mail.Example.NET}\nstorage: {path: data}\n" + QUEUE)
    config = load_config(path)
    assert config.database == f"sqlite:///{tmp_path / 'data' / 'maildesk.db'}"
    assert config.outbound.bounce_address == "bounces@mail.example.net"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql+psycopg://md@db/maildesk", "postgresql+psycopg://md@db/maildesk"),
        ("sqlite:////abs/x.db", "sqlite:////abs/x.db"),
        ("'sqlite:///:memory:'", "sqlite:///:memory:"),
        ("sqlite:///rel/x.db", "sqlite:///{base}/rel/x.db"),
    ],
)
def test_database_urls(tmp_path: Path, url: str, expected: str) -> None:
    config = load_config(write(tmp_path, f"database: {url}\n" + QUEUE))
    assert config.database == expected.format(base=tmp_path)


def test_merge_keys_and_home_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    config = load_config(
        write(
            tmp_path,
            """\
            instance: {secret_file: ~/secret}
            queues:
              - &base {name: Support, address: support@example.com, language: de}
              - <<: *base
                name: Sales
                address: sales@example.com
            """,
        )
    )
    assert config.instance.secret_file == tmp_path / "home" / "secret"
    assert [(q.name, q.language) for q in config.queues] == [("Support", "de"), ("Sales", "de")]


def test_autoresponse_false_turns_every_event_off(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, QUEUE + "    autoresponse: false\n"))
    assert config.queues[0].autoresponse == dict.fromkeys(AUTORESPONSE_DEFAULTS, False)


def test_priority_names_and_tags_as_one_string(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            QUEUE
            + D(
                """\
            rules:
              - {name: a, set: {priority: very low, tags: spam}}
              - {name: b, set: {priority: "2"}}
              - {name: c, set: {priority: 4 high}}
              - {name: d, set: {priority: Normal}, reject: true}
            """
            ),
        )
    )
    assert [r.set["priority"] for r in config.rules] == [1, 2, 4, 3]
    assert config.rules[0].set["tags"] == ("spam",)
    assert config.rules[3].reject


# --------------------------------------------------------------------------- errors


def test_broken_config_reports_every_problem_with_its_line() -> None:
    path = FIXTURES / "broken.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    got = [m.removeprefix(f"{path}:") for m in info.value.messages]
    from dataclasses import fields

    from maildesk.config import Instance

    allowed_instance = ", ".join(f.name for f in fields(Instance))  # every key, in order
    conditions = (
        "recipient, to, cc, from, sender_domain, subject, body, header, has_attachment, "
        "known_customer"
    )
    assert got == [
        "3: instance.system_id: must be a whole number 0-99, not '123'",
        "4: instance.number_format: 'weekly' is not one of: date, counter",
        f"5: instance: unknown key 'colour' (allowed: {allowed_instance})",
        "6: database: not an SQLAlchemy URL: 'not a url' "
        "(write e.g. sqlite:///var/maildesk.db or postgresql://host/maildesk)",
        "8: storage.articles: 'cloud' is not one of: filesystem, database",
        "10: listen.smtp: not host:port: 'localhost' (write e.g. 127.0.0.1:2525)",
        "11: listen.max_message_size: not a size: 'lots' (write e.g. 25MiB, 500KB or 1048576)",
        "12: listen.idle_timeout: not a duration: 'forever' (write e.g. 30s, 15m, 1h, 5d)",
        "14: outbound.relay: IPv6 address needs brackets: '::1:25' (write [::1]:2525)",
        "15: the bounce address: address support@example.com is already used by "
        "queue 'Support' (line 18)",
        "19: queue 'Support': unknown group 'nobody' (groups: support)",
        "20: queue 'Support': on_closed_followup: 'ignore' is not one of: "
        "reopen, new_ticket, reject",
        "21: queue 'Support': autoresponse: unknown key 'weekly' "
        "(allowed: new, followup, reject, closed_followup)",
        "21: queue 'Support': autoresponse.new: must be true or false, not 'maybe'",
        "22: queue 'Support': duplicate queue name (first on line 17)",
        "23: queue 'Support': address: must be a single bare address like "
        "support@example.com, not 'Sales <sales@example.com>'",
        "25: queue 'Other': address support@example.com is already used by "
        "queue 'Support' (line 18)",
        "28: groups.support.Support: unknown permission 'fly' "
        "(permissions: read, note, reply, move, priority, lock, owner, close, merge)",
        "29: groups.support: unknown queue 'Nowhere' (queues: Support, Other)",
        "32: agent alice@example.com: groups: unknown group 'ghosts' (groups: support)",
        "33: agent alice@example.com: address alice@example.com is already used by "
        "agent alice@example.com (line 31)",
        "37: rule 'bad': match.subject: bad regex '(unclosed': "
        "missing ): (unclosed",
        f"38: rule 'bad': match: unknown key 'weather' (allowed: {conditions})",
        "39: rule 'bad': match.header.X-Spam-Flag: an empty list matches nothing",
        "40: rule 'bad': set.queue: unknown queue 'Nowhere' (queues: Support, Other)",
        "40: rule 'bad': set.priority: not a priority: 'urgent' "
        "(1-5 or very low, low, normal, high, very high)",
        "40: rule 'bad': set.state: 'closed' is not one of: new, open, pending reminder, "
        "pending auto-close, closed successful, closed unsuccessful",
        "40: rule 'bad': set.owner: mallory@example.com is not a configured agent",
        "41: rule 'bad': stop: must be true or false, not 'sometimes'",
    ]


def test_yaml_syntax_error_has_its_line() -> None:
    path = FIXTURES / "syntax.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    [message] = info.value.messages
    assert message.startswith(f"{path}:4: YAML syntax error: ")


def test_unclosed_quote_is_a_syntax_error(tmp_path: Path) -> None:
    [message] = errors(tmp_path, 'instance:\n  name: "unclosed\nqueues: []\n')
    assert message.startswith("4: YAML syntax error:") or message.startswith("3: YAML syntax")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ["1: the config is empty; at least one queue is required"]),
        ("instance: {name: x}\n", ["1: queues: at least one queue is required"]),
        ("instance: {name: x}\nqueues: []\n", ["2: queues: at least one queue is required"]),
        ("queues:\n", ["1: queues: at least one queue is required"]),
        (
            "- a\n- b\n",
            [
                "1: config: must be a mapping, not a list",
                "1: queues: at least one queue is required",
            ],
        ),
        ("queues: {name: x}\n", ["1: queues: must be a list, not a mapping"]),
    ],
)
def test_queues_are_required(tmp_path: Path, text: str, expected: list[str]) -> None:
    assert errors(tmp_path, text) == expected


def test_missing_required_queue_keys(tmp_path: Path) -> None:
    assert errors(tmp_path, "queues:\n  - name: Support\n  - address: a@example.com\n") == [
        "2: queue 'Support': missing required key 'address'",
        "3: queues[1]: missing required key 'name'",
    ]


def test_unknown_top_level_key_and_duplicate_key(tmp_path: Path) -> None:
    got = errors(tmp_path, QUEUE + "queue_settings: {}\ninstance: {}\ninstance: {}\n")
    assert got[0].startswith("4: config: unknown key 'queue_settings' (allowed: instance, ")
    assert got[1] == "6: config: duplicate key 'instance'"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("instance: {system_id: -1}", "instance.system_id: must be a whole number 0-99, not '-1'"),
        (
            "instance: {system_id: 100}",
            "instance.system_id: must be a whole number 0-99, not '100'",
        ),
        (
            "instance: {system_id: ten}",
            "instance.system_id: must be a whole number 0-99, not 'ten'",
        ),
        (
            "instance: {system_id: true}",
            "instance.system_id: must be a whole number 0-99, not 'true'",
        ),
        (
            "instance: {ticket_hook: 'T #'}",
            "instance.ticket_hook: must not contain spaces or brackets: 'T #'",
        ),
        (
            "instance: {default_language: english!}",
            "instance.default_language: not a language code like en or pt-BR: 'english!'",
        ),
        ("instance: {domain: 'ex ample'}", "instance.domain: not a domain name: 'ex ample'"),
        ("instance: {name: [a, b]}", "instance.name: must be text, not a list"),
        (
            "instance: {require_token_and_dkim: 1}",
            "instance.require_token_and_dkim: must be true or false, not '1'",
        ),
        ("instance: []", "instance: must be a mapping, not a list"),
        (
            "listen: {max_recipients: 0}",
            "listen.max_recipients: must be a whole number >= 1, not '0'",
        ),
        (
            "listen: {lmtp: '127.0.0.1:99999'}",
            "listen.lmtp: not host:port: '127.0.0.1:99999' (port must be 0-65535)",
        ),
        ("listen: {smtp: 2525}", "listen.smtp: not host:port: 2525 (write e.g. 127.0.0.1:2525)"),
        (
            "listen: {max_message_size: 25XB}",
            "listen.max_message_size: not a size: '25XB' (write e.g. 25MiB, 500KB or 1048576)",
        ),
        ("listen: {tls_cert: c.pem}", "listen: tls_cert and tls_key must be given together"),
        ("listen: {require_starttls: true}", "listen.require_starttls needs tls_cert/tls_key"),
        (
            "outbound: {relay: 'smtp.example.com'}",
            "outbound.relay: not host:port: 'smtp.example.com' (write e.g. 127.0.0.1:2525)",
        ),
        (
            "outbound: {give_up_after: 5 days}",
            "outbound.give_up_after: not a duration: '5 days' (write e.g. 30s, 15m, 1h, 5d)",
        ),
        (
            "outbound: {bounce_address: bounces}",
            "outbound.bounce_address: not a valid address: 'bounces'",
        ),
        (
            "outbound: {bounce_address: 'a@b.c, d@e.f'}",
            "outbound.bounce_address: must be a "
            "single bare address like support@example.com, not 'a@b.c, d@e.f'",
        ),
        ("limits: {max_parts: 0}", "limits.max_parts: must be a whole number >= 1, not '0'"),
        (
            "limits: {parse_seconds: soon}",
            "limits.parse_seconds: not a duration: 'soon' (write e.g. 30s, 15m, 1h, 5d)",
        ),
        (
            "limits: {max_depth: 3}",
            "limits: unknown key 'max_depth' (allowed: max_header_bytes, "
            "max_mime_depth, max_parts, max_decoded_bytes, parse_seconds)",
        ),
        ("templates: [a]", "templates: must be text, not a list"),
    ],
)
def test_value_errors(tmp_path: Path, line: str, expected: str) -> None:
    assert errors(tmp_path, QUEUE + line + "\n") == [f"4: {expected}"]


def test_bad_addresses(tmp_path: Path) -> None:
    got = errors(
        tmp_path,
        """\
        queues:
          - {name: A, address: "a@@example.com"}
          - {name: B, address: "@example.com"}
          - {name: C, address: "c@exa_mple.com"}
          - {name: D, address: "d@example.com"}
        agents:
          - address: "D@Example.COM"
          - address: "Eve <eve@example.com>"
        """,
    )
    assert got == [
        "2: queue 'A': address: not a valid address: 'a@@example.com'",
        "3: queue 'B': address: not a valid address: '@example.com'",
        "4: queue 'C': address: not a valid address: 'c@exa_mple.com'",
        "7: agent d@example.com: address d@example.com is already used by queue 'D' (line 5)",
        "8: agent Eve <eve@example.com>: address: must be a single bare address like "
        "support@example.com, not 'Eve <eve@example.com>'",
    ]


def test_groups_reference_known_queues_and_permissions(tmp_path: Path) -> None:
    got = errors(
        tmp_path,
        QUEUE
        + D(
            """\
        groups:
          staff:
            Support: [read, delete]
            support: [read]
        agents:
          - {address: a@example.com, groups: staff}
          - {address: b@example.com, groups: [staff, admins]}
        """
        ),
    )
    perms = "read, note, reply, move, priority, lock, owner, close, merge"
    assert got == [
        f"6: groups.staff.Support: unknown permission 'delete' (permissions: {perms})",
        "7: groups.staff: unknown queue 'support' (queues: Support)",
        "10: agent b@example.com: groups: unknown group 'admins' (groups: staff)",
    ]


def test_rule_errors(tmp_path: Path) -> None:
    got = errors(
        tmp_path,
        QUEUE
        + D(
            """\
        agents:
          - address: alice@example.com
        rules:
          - name: one
            match:
              from: [{regex: "[a-"}, "*@ok.com"]
              body: {glob: "x"}
              header: {"Bad Header": x, X-Ok: {regex: "*"}}
              has_attachment: sometimes
            set: {owner: bob@example.com, language: "??", colour: red}
            ignore: true
            reject: go away
          - just text
          - name: two
            match: {subject: null}
            followups: maybe
            set: {state: merged}
        """
        ),
    )
    assert got == [
        "9: rule 'one': match.from: bad regex '[a-': missing ]: [a-",
        "10: rule 'one': match.body: unknown key 'glob' (allowed: regex)",
        "11: rule 'one': match.header: not a header name: 'Bad Header'",
        "11: rule 'one': match.header.X-Ok: bad regex '*': no argument for repetition operator: *",
        "12: rule 'one': match.has_attachment: must be true or false, not 'sometimes'",
        "13: rule 'one': set: unknown key 'colour' (allowed: queue, priority, state, owner, "
        "tags, language)",
        "13: rule 'one': set.owner: bob@example.com is not a configured agent",
        "13: rule 'one': set.language: not a language code like en or pt-BR: '??'",
        "14: rule 'one': a rule cannot both ignore and reject",
        "16: rules[1]: must be a mapping, not 'just text'",
        "18: rule 'two': match.subject: must be text, {regex: ...} or a list of them, not empty",
        "19: rule 'two': followups: must be true or false, not 'maybe'",
        "20: rule 'two': set.state: 'merged' is not one of: new, open, pending reminder, "
        "pending auto-close, closed successful, closed unsuccessful",
    ]


def test_messages_are_sorted_by_line(tmp_path: Path) -> None:
    got = errors(
        tmp_path,
        """\
        instance: {system_id: 500}
        rules:
          - set: {queue: Nope}
        queues:
          - {name: Support, address: support@example.com}
        """,
    )
    assert [m.split(":")[0] for m in got] == ["1", "3"]


def test_unreadable_and_non_utf8_files(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(missing)
    assert info.value.messages == [f"{missing}: cannot read config: No such file or directory"]
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"queues:\n  - name: Caf\xe9\n")
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    assert info.value.messages == [f"{bad}:2: not UTF-8 text: invalid continuation byte"]


# --------------------------------------------------------------------------- find_config


def test_find_config_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MAILDESK_CONFIG", raising=False)
    etc = Path("/etc/maildesk/maildesk.yaml")
    # nothing anywhere: the first candidate, for the caller to report (and `init` to write)
    expected_none = etc if etc.is_file() else Path("maildesk.yaml")
    assert find_config(None) == expected_none
    (tmp_path / "maildesk.yaml").write_text(QUEUE)
    assert find_config(None) == Path("maildesk.yaml")
    monkeypatch.setenv("MAILDESK_CONFIG", "/srv/env.yaml")
    assert find_config(None) == Path("/srv/env.yaml")  # named, so returned even if missing
    assert find_config("/opt/cli.yaml") == Path("/opt/cli.yaml")
    monkeypatch.setenv("MAILDESK_CONFIG", "")
    assert find_config(None) == Path("maildesk.yaml")


def test_find_config_falls_back_to_etc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MAILDESK_CONFIG", raising=False)
    real_is_file = Path.is_file
    monkeypatch.setattr(
        Path, "is_file", lambda p: str(p) == "/etc/maildesk/maildesk.yaml" or real_is_file(p)
    )
    assert find_config(None) == Path("/etc/maildesk/maildesk.yaml")


# --------------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        (Pattern("*@bigcorp.com"), "Jane@BigCorp.COM", True),
        (Pattern("*@bigcorp.com"), "jane@bigcorp.com.evil.org", False),
        (Pattern("exact subject"), "Exact Subject", True),
        (Pattern("exact subject"), "Re: exact subject", False),
        (Pattern("[urgent]*"), "[URGENT] server down", True),  # brackets are literal
        (Pattern("[urgent]*"), "u", False),
        (Pattern("a?c"), "ABC", True),
        (Pattern("*refund*"), "line one\nplease refund me\n", True),
    ],
)
def test_glob_patterns(pattern: Pattern, value: str, expected: bool) -> None:
    assert pattern.matches(value) is expected


def test_regex_patterns_search_as_written() -> None:
    import re

    assert Pattern("inv", re.compile("inv")).matches("your invoice")
    assert not Pattern("inv", re.compile("inv")).matches("INVOICE")
    assert Pattern("(?i)inv", re.compile("(?i)inv")).matches("INVOICE")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("25MiB", 25 * 1024**2),
        ("25 MB", 25_000_000),
        ("1k", 1024),
        ("512", 512),
        (7, 7),
        ("1.5KiB", 1536),
        ("2g", 2 * 1024**3),
    ],
)
def test_parse_size(text: str | int, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "MiB", "-1", "25 MiBs", "1e3"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", 30.0),
        ("15m", 900.0),
        ("1h30m", 5400.0),
        ("5d", 432000.0),
        ("1w", 604800.0),
        ("250ms", 0.25),
        (12, 12.0),
        ("2.5", 2.5),
    ],
)
def test_parse_duration(text: str | int, expected: float) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "s", "5 days", "1h junk", "-5s"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:2525", ("127.0.0.1", 2525)),
        ("[::1]:2525", ("::1", 2525)),
        ("mail.example.com:25", ("mail.example.com", 25)),
        ("0.0.0.0:0", ("0.0.0.0", 0)),
    ],
)
def test_parse_hostport(text: str, expected: tuple[str, int]) -> None:
    assert parse_hostport(text) == expected


@pytest.mark.parametrize(
    "text", ["localhost", ":25", "::1:25", "[::1]", "[::1]25", "h:x", "h:70000"]
)
def test_parse_hostport_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_hostport(text)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1, 1), ("5", 5), ("very low", 1), ("Very  High", 5), ("normal", 3), ("2 low", 2)],
)
def test_parse_priority(value: str | int, expected: int) -> None:
    assert parse_priority(value) == expected


@pytest.mark.parametrize("value", [0, 6, "urgent", "2 high", True])
def test_parse_priority_rejects(value: str | int) -> None:
    with pytest.raises(ValueError):
        parse_priority(value)


@pytest.mark.parametrize(
    "text",
    [
        "queues: [[1]]",
        "queues: [{name: [1], address: {a: 1}}]",
        "rules: [{match: [1]}]",
        "groups: {a: {b: {c: 1}}}",
        "agents: [1, null, {groups: {a: 1}}]",
        "a: &x [*x]",
        "? [a]\n: 1",
        "null: 1",
        "queues: &q [{name: A, address: a@b.c, group: *q}]",
        "rules: [{match: {header: {X: [[1]]}}}]",
        "rules: [{match: {from: [{regex: [1]}]}}]",
        "rules: [{set: {tags: {a: 1}}}]",
        "listen: {smtp: [1], max_message_size: .inf, idle_timeout: .nan}",
        "queues:\n  - <<: [1, 2]\n    name: A",
        "--- a\n--- b",
        "!!python/object:os.system x",
        "queues: !!binary aGVsbG8=",
    ],
)
def test_odd_shapes_give_config_errors_never_tracebacks(tmp_path: Path, text: str) -> None:
    assert errors(tmp_path, text + "\n")
