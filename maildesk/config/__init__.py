"""maildesk.yaml as frozen, typed objects, every problem reported as `file:line: message`.

Layout:
    vocabulary.py  names the config shares with the code (states, priorities, permissions)
    values.py      value parsers: sizes, durations, host:port, priorities, addresses
    walker.py      the line-keeping YAML walker (PyYAML nodes, so errors know their line)
    fields.py      `setting()`/`section()`/`items()`, the readers, generic section reading
    model.py       the frozen dataclasses: every key is declared once, there
    rules.py       routing rules (match conditions, set actions)
    mailboxes.py   IMAP/POP3 accounts (a url gives protocol, host, port, user, folder)
    loader.py      find_config, load_config: sections in order, then cross-checks
    reference.py   every key with its doc (the README must name each; tests/test_docs.py)

Adding a key to an existing section (e.g. a queue's `sla`): one line in model.py,

    sla: float | None = f.setting(None, read=f.parsed(parse_duration), doc="first answer due")

and a row in the README's key table (`python -m maildesk.config.reference` prints them).
Adding a section (e.g. `timers:`, `web:`): a frozen dataclass of `f.setting(...)` fields in
model.py (or a module of your own imported there) and one field on `Config`:

    timers: Timers = f.section(Timers, doc="...")          # a mapping
    webhooks: tuple[Webhook, ...] = f.items(Webhook, doc="...", title="webhook '{}'",
                                            ident="name")  # a list of mappings

The loader reads both kinds without new code. A reader is `(walker, node, where) -> value`
and returns None after `walker.problem(node, ...)`; `fields.py` has the usual ones (text,
integer, boolean, parsed(parse_x), choice, address, language, path, names, endpoint,
refs("groups") for names another section defines). Checks across keys or sections go in
loader.py, blaming the node they are about. A listener address is
`f.setting(None, read=f.endpoint(parse_hostport), ...)` (null/false turns it off).
"""

from __future__ import annotations

from maildesk.config.loader import ConfigError, find_config, load_config
from maildesk.config.mailboxes import parse_mailbox_url
from maildesk.config.model import (
    Agent,
    Config,
    Instance,
    Limits,
    Listen,
    Mailbox,
    Outbound,
    Pattern,
    Queue,
    Rule,
    Storage,
)
from maildesk.config.values import parse_duration, parse_hostport, parse_priority, parse_size
from maildesk.config.vocabulary import (
    ARTICLE_STORES,
    AUTORESPONSE_DEFAULTS,
    AUTORESPONSE_EVENTS,
    CLOSED_FOLLOWUP_POLICIES,
    MATCH_CONDITIONS,
    NUMBER_FORMATS,
    PERMISSIONS,
    PRIORITY_NAMES,
    STATES,
)

__all__ = [
    "ARTICLE_STORES",
    "AUTORESPONSE_DEFAULTS",
    "AUTORESPONSE_EVENTS",
    "CLOSED_FOLLOWUP_POLICIES",
    "MATCH_CONDITIONS",
    "NUMBER_FORMATS",
    "PERMISSIONS",
    "PRIORITY_NAMES",
    "STATES",
    "Agent",
    "Config",
    "ConfigError",
    "Instance",
    "Limits",
    "Listen",
    "Mailbox",
    "Outbound",
    "Pattern",
    "Queue",
    "Rule",
    "Storage",
    "find_config",
    "load_config",
    "parse_duration",
    "parse_hostport",
    "parse_mailbox_url",
    "parse_priority",
    "parse_size",
]
