"""Who changes a ticket: the actor every core operation takes.

An actor is plain, frozen data made by the entrance that authenticated it: the mail path
(an agent whose mail passed `agents.auth`), the HTTP API (a token), the web (a logged-in
agent or customer), the timers (the system). The core checks each change against
`Actor.permissions(config, queue)`; the entrance never decides a permission itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from maildesk.config import PERMISSIONS, Config

if TYPE_CHECKING:
    from maildesk.http.tokens import Caller

__all__ = ["ANY_QUEUE", "Actor", "CUSTOMER_PERMISSIONS", "Kind", "Via"]

Kind = Literal["agent", "customer", "token", "system"]
Via = Literal["mail", "http", "web", "timer", "cli"]
ANY_QUEUE = "*"  # a grants key that holds in every queue
# What a customer may do, and only on a ticket that is theirs: write to it.
CUSTOMER_PERMISSIONS = frozenset({"reply"})


@dataclass(frozen=True)
class Actor:
    """One person or program acting on tickets.

    `address` is the identity history records and locks compare (an agent's configured
    address, a customer's address, `api:<token name>`, `system`). `grants` maps a queue
    name (or `ANY_QUEUE`) to permissions; left `None` for an agent, the permissions come
    from the config's groups at the moment of the check, so `Actor(kind="agent",
    address=..., via="web")` is enough for a logged-in agent.
    """

    kind: Kind
    address: str
    name: str = ""
    via: Via = "mail"
    grants: Mapping[str, frozenset[str]] | None = field(default=None, hash=False)

    def permissions(self, config: Config, queue: str) -> frozenset[str]:
        """What this actor may do in `queue` (for a customer: on their own tickets)."""
        if self.grants is not None:
            return self.grants.get(queue, self.grants.get(ANY_QUEUE, frozenset()))
        if self.kind == "system":
            return frozenset(PERMISSIONS)
        if self.kind == "customer":
            return CUSTOMER_PERMISSIONS
        if self.kind == "agent":
            agent = config.agent(self.address)
            return config.permissions(agent, queue) if agent is not None else frozenset()
        return frozenset()  # a token always carries its grants

    @property
    def label(self) -> str:
        """How history names this actor (the `actor` column)."""
        return self.address

    # -- the actors each entrance makes --------------------------------------------------

    @classmethod
    def agent(cls, address: str, name: str = "", via: Via = "mail") -> Actor:
        """A configured agent; permissions from the groups (checked when used)."""
        return cls("agent", address.lower(), name, via)

    @classmethod
    def customer(cls, address: str, name: str = "", via: Via = "web") -> Actor:
        return cls("customer", address.lower(), name, via)

    @classmethod
    def token(cls, caller: Caller) -> Actor:
        """An API token: every permission in its queues with the write scope, else none."""
        perms = frozenset(PERMISSIONS) if caller.may_write() else frozenset()
        grants = {q: perms for q in caller.queues} if caller.queues else {ANY_QUEUE: perms}
        return cls("token", caller.actor, caller.name, "http", grants)

    @classmethod
    def system(cls, via: Via = "timer") -> Actor:
        """maildesk itself (timers, rules): every permission, named `system` in history."""
        return cls("system", "system", "maildesk", via)
