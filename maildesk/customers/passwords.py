"""Customers' password hashes (SPEC 16): checked, never stored in clear, never hand-rolled.

Accepted forms, each verified by a maintained library (no crypto written here):

- bcrypt `$2a$`, `$2b$`, `$2y$` (PHP's name for `$2b$`, common in CRMs): pyca `bcrypt`;
- argon2 `$argon2id$`, `$argon2i$`, `$argon2d$`: `argon2-cffi`;
- crypt(3) SHA-512 `$6$` (Linux shadow files, LDAP `{CRYPT}`): `libpass`'s `sha512_crypt`
  (the maintained fork of passlib, which no longer works with bcrypt 5).

Anything else (plain text, MD5-crypt `$1$`, `$2x$`, a hash of another scheme) is refused:
it verifies nothing, so a CRM column holding clear passwords does not become a way in.
Every library compares in constant time; `dummy_verify` spends the time of a real check
when there is no hash to check, so the answer's timing does not tell who has an account.

The lockout rule (`web.password_failures` wrong passwords in a row, default 5, lock the
account for `web.password_lockout`, default 15 minutes; wrong passwords while locked do not
extend it) is pure here; the row it is kept on is maildesk.customers.login's business.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import argon2
import bcrypt
from argon2.exceptions import InvalidHashError, VerificationError
from passlib.hash import sha512_crypt

__all__ = [
    "LOCK_FOR",
    "MAX_FAILURES",
    "MAX_PASSWORD",
    "Attempts",
    "after_failure",
    "dummy_verify",
    "hash_kind",
    "hash_password",
    "is_locked",
    "needs_rehash",
    "verify",
]

log = logging.getLogger("maildesk.customers")

MAX_FAILURES = 5  # wrong passwords in a row before the account is locked (web.password_failures)
LOCK_FOR = timedelta(minutes=15)  # ... for this long (web.password_lockout)
MAX_PASSWORD = 1024  # characters; longer is refused unchecked ($6$'s cost grows with it)

_BCRYPT = ("$2a$", "$2b$", "$2y$")
_ARGON2 = ("$argon2id$", "$argon2i$", "$argon2d$")
_hasher = argon2.PasswordHasher()  # argon2-cffi's defaults (RFC 9106 low-memory profile)
# What a check costs when there is nothing to check: a real argon2id hash at the defaults,
# made once per process (its password is random and forgotten).
_DUMMY: str | None = None


def hash_kind(stored: str | None) -> str | None:
    """`bcrypt`, `argon2` or `sha512_crypt` for a hash of an accepted form, else None."""
    if not stored:
        return None
    if stored.startswith(_BCRYPT) and len(stored) == 60:
        return "bcrypt"
    if stored.startswith(_ARGON2):
        return "argon2"
    if stored.startswith("$6$") and sha512_crypt.identify(stored):
        return "sha512_crypt"
    return None


def verify(password: str, stored: str | None) -> bool:
    """Whether `password` matches `stored`. A hash of an unknown or malformed form, an empty
    or overlong password, or one bcrypt cannot take (over 72 bytes) is False, never an
    exception: a login answers "no" and nothing else."""
    kind = hash_kind(stored)
    if kind is None or stored is None:
        if stored:
            log.warning("customer password hash of an unknown form refused (%s...)",
                        stored[:4])
        dummy_verify(password)
        return False
    if not password or len(password) > MAX_PASSWORD:
        dummy_verify("x")
        return False
    try:
        if kind == "bcrypt":
            return bcrypt.checkpw(password.encode("utf-8"), stored.encode("ascii"))
        if kind == "argon2":
            return _hasher.verify(stored, password)
        return bool(sha512_crypt.verify(password, stored))
    except VerificationError:  # argon2: a mismatch (VerifyMismatchError) or worse
        return False
    except (InvalidHashError, ValueError, TypeError, UnicodeError) as exc:
        # bcrypt 5 raises ValueError over 72 bytes and for a corrupt salt; libpass for a
        # malformed checksum: the hash (or the password) cannot be checked, so it is "no".
        log.warning("customer password hash could not be checked (%s): %s", kind, exc)
        return False


def dummy_verify(password: str) -> None:
    """Spend what checking `password` against a real argon2id hash costs, and forget it."""
    global _DUMMY
    if _DUMMY is None:
        import secrets

        _DUMMY = _hasher.hash(secrets.token_urlsafe(16))
    try:
        _hasher.verify(_DUMMY, (password or "x")[:MAX_PASSWORD])
    except VerificationError:
        pass


def needs_rehash(stored: str) -> bool:
    """Whether a hash that just verified should be replaced by a new argon2id one: any
    other form (a $6$ of 5,000 rounds costs an attacker 2 ms a guess), or argon2 with
    weaker parameters than argon2-cffi's current defaults."""
    if hash_kind(stored) != "argon2":
        return True
    try:
        return _hasher.check_needs_rehash(stored)
    except (InvalidHashError, ValueError):
        return True


def hash_password(password: str) -> str:
    """A new hash in maildesk's own form (argon2id), for the customer table."""
    if not password or len(password) > MAX_PASSWORD:
        raise ValueError(f"a password has 1 to {MAX_PASSWORD} characters")
    return _hasher.hash(password)


@dataclass(frozen=True)
class Attempts:
    """One account's lockout state: wrong passwords in a row, and locked until when."""

    failed: int = 0
    locked_until: datetime | None = None


def is_locked(state: Attempts, now: datetime) -> bool:
    return state.locked_until is not None and now < state.locked_until


def after_failure(state: Attempts, now: datetime, max_failures: int = MAX_FAILURES,
                  lock_for: timedelta = LOCK_FOR) -> Attempts:
    """The state after one more wrong password. While locked nothing changes (the lock is
    not extended: an attacker cannot keep it shut longer by trying harder); once it has
    run out counting starts again from zero."""
    if is_locked(state, now):
        return state
    failed = 0 if state.locked_until is not None else state.failed
    failed += 1
    if failed >= max_failures:
        return Attempts(0, now + lock_for)
    return Attempts(failed, None)
