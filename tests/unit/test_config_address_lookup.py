"""The queue look-up by address (issue 20: a dict per Config instead of a walk of the
queues, the address made comparable once) answers what the walk answered; the old forms
are the oracles here."""

from __future__ import annotations

import dataclasses
import itertools

from maildesk.addresses import AddressError, ascii_domain
from maildesk.config import Config
from maildesk.config.model import Queue


def _comparable(address: str) -> str:
    local, at, domain = address.lower().rpartition("@")
    if not at or domain.isascii():
        return address.lower()
    try:
        return f"{local}@{ascii_domain(domain)}"
    except AddressError:
        return address.lower()


def old_queue_for_address(config: Config, address: str) -> Queue | None:
    local, _, domain = _comparable(address).partition("@")
    base = local.split("+", 1)[0] + "@" + domain
    return next((q for q in config.queues if q.address == base), None)


def old_is_system_address(config: Config, address: str) -> bool:
    if old_queue_for_address(config, address) is not None:
        return True
    local, _, domain = _comparable(address).partition("@")
    b_local, _, b_domain = config.outbound.bounce_address.lower().partition("@")
    return domain == b_domain and local.split("+", 1)[0] == b_local


LOCALS = ["support", "Support", "SUPPORT+x", "support+", "billing+a+b", "bounces",
          "bounces+12-abc", "Bounces+1", "nobody", "", "+support", "sales", "jünk",
          "a@b", '"support"']
DOMAINS = ["example.com", "EXAMPLE.COM", "example.org", "bücher.example",
           "xn--bcher-kva.example", "", "exa mple.com", "..", "ex\u00e4mple.com"]


def addresses() -> list[str]:
    found = [f"{local}@{domain}" for local, domain in itertools.product(LOCALS, DOMAINS)]
    return found + ["support", "@example.com", "support@", "a@b@example.com", ""]


def check(config: Config) -> None:
    for address in addresses():
        assert config.queue_for_address(address) is old_queue_for_address(config, address), \
            address
        assert config.is_system_address(address) == old_is_system_address(config, address), \
            address


def test_as_the_walk_did(config: Config) -> None:
    check(config)


def test_idn_and_repeated_queue_addresses(config: Config) -> None:
    first = dataclasses.replace(config.queues[0], name="idn", address="info@xn--bcher-kva.example")
    again = dataclasses.replace(config.queues[1], name="again", address=config.queues[0].address)
    changed = dataclasses.replace(config, queues=(*config.queues, first, again))
    check(changed)
    assert changed.queue_for_address(config.queues[0].address) is changed.queues[0]
    assert changed.queue_for_address("Info+x@Bücher.example") is first


def test_a_new_config_has_its_own_lookup(config: Config) -> None:
    assert config.queue_for_address("support@example.com") is not None
    fewer = dataclasses.replace(config, queues=config.queues[1:])
    assert fewer.queue_for_address(config.queues[0].address) is None
    check(fewer)
