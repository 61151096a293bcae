"""Customer password hashes (maildesk.customers.passwords): each accepted form checked with
a real hash made by another tool, unknown forms refused, and the lockout rule."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from maildesk.customers.passwords import (
    LOCK_FOR,
    MAX_FAILURES,
    Attempts,
    after_failure,
    dummy_verify,
    hash_kind,
    hash_password,
    is_locked,
    needs_rehash,
    verify,
)

# (password, hash, kind): made outside maildesk, so a verifier that agrees only with itself
# fails here.
VECTORS = [
    # openssl passwd -6 -salt Wm2Q5uGf8kLp3sXz 'correct horse'
    ("correct horse",
     "$6$Wm2Q5uGf8kLp3sXz$.5DLNR699HAa0UJtOGumfG5D.VvuumMXkGCcmI7A03HmYHxYO4nnSqU1CqjqlCk"
     "VTzSfjwPGOHM7XdLHtLNgJ1", "sha512_crypt"),
    # openssl passwd -6 -salt 'rounds=1000$shortsalt' 'grüße 🔑' (UTF-8, explicit rounds)
    ("grüße 🔑",
     "$6$rounds=1000$shortsalt$p5WK19EmVllhfs8lj8egPIZSfXq9T4exTjzVx3KwZGPeZkUl9oZDhLysVk2"
     "HaePC3JZjPdRTJ.sfHwW4XVSqK0", "sha512_crypt"),
    # PHP's password_verify documentation example (password_hash, PASSWORD_DEFAULT)
    ("rasmuslerdorf", "$2y$10$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a", "bcrypt"),
    # pyca bcrypt, cost 4, both prefixes
    ("correct horse", "$2b$04$/yN2xEwsgw1gupnzMlc.EOV8bpFfGVRahXUYpPJz4cSn4qWfHiepa", "bcrypt"),
    ("correct horse", "$2a$04$V3oL23FKP8KUYRU.7mMVOe3gFVo74ZhUHnNHEKTStiH.7Zlx1VSWq", "bcrypt"),
    # argon2-cffi, m=1024 t=1 p=1: argon2id and argon2i
    ("correct horse",
     "$argon2id$v=19$m=1024,t=1,p=1$pDClRfSAM/PPgrtlfaNhLw$wQEalvxheYkL/xQJSBTcJWd8TVkgu3vX"
     "vIVpOgT1910", "argon2"),
    ("correct horse",
     "$argon2i$v=19$m=1024,t=1,p=1$pN2RDMB2f9i86857zLL2WQ$tut39p3226VtxhLqg3X05UKqmSwcS6bS"
     "2mY+ocr89Ik", "argon2"),
]


@pytest.mark.parametrize(("password", "stored", "kind"), VECTORS)
def test_each_form_verifies_its_password_and_nothing_else(password: str, stored: str,
                                                          kind: str) -> None:
    assert hash_kind(stored) == kind
    assert verify(password, stored) is True
    assert verify(password + "x", stored) is False
    assert verify(password.upper(), stored) is False
    assert verify("", stored) is False


@pytest.mark.parametrize("stored", [
    "correct horse",  # a CRM column with clear text
    "{PLAIN}correct horse",
    "$1$saltsalt$Xc6lN6dqLMr0Bm0Nm2i8N/",  # MD5-crypt
    "$5$saltsalt$Gcm6FsVtF/Qa77ZKD.iwsJlCVPY0XSMgLJL0Hnww/c1",  # SHA-256-crypt
    "$2x$04$/yN2xEwsgw1gupnzMlc.EOV8bpFfGVRahXUYpPJz4cSn4qWfHiepa",  # bcrypt's buggy variant
    "$2b$04$/yN2xEwsgw1gupnzMlc.EOV8bpFfGVRahXUYpPJz4cSn4qWfHiep",  # cut short
    "$6$saltsalt$abcdefghijklmnopqrstuvwxyz",  # $6$ with a malformed checksum
    "$argon2id$v=19$m=1024,t=1,p=1$broken",
    "",
    None,
])
def test_unknown_or_broken_forms_are_refused(stored: str | None) -> None:
    assert verify(stored or "correct horse", stored) is False  # not even the text itself


def test_malformed_hashes_of_a_known_prefix_are_no_not_an_error() -> None:
    assert hash_kind("$argon2id$v=19$m=1024,t=1,p=1$broken") == "argon2"
    assert verify("correct horse", "$argon2id$v=19$m=1024,t=1,p=1$broken") is False


def test_bcrypt_over_72_bytes_is_refused_not_raised() -> None:
    stored = "$2b$04$/yN2xEwsgw1gupnzMlc.EOV8bpFfGVRahXUYpPJz4cSn4qWfHiepa"
    assert verify("correct horse" + "x" * 80, stored) is False


def test_overlong_passwords_are_refused_unchecked() -> None:
    stored = hash_password("a" * 1024)
    assert verify("a" * 1024, stored) is True
    assert verify("a" * 1025, stored) is False
    with pytest.raises(ValueError):
        hash_password("a" * 1025)


def test_maildesk_writes_argon2id() -> None:
    stored = hash_password("s3cret password")
    assert stored.startswith("$argon2id$") and hash_kind(stored) == "argon2"
    assert verify("s3cret password", stored) and not verify("s3cret passwore", stored)


def test_dummy_verify_takes_about_as_long_as_a_real_argon2_check() -> None:
    import time

    stored = hash_password("s3cret password")
    dummy_verify("warm up")
    started = time.perf_counter()
    verify("wrong", stored)
    real = time.perf_counter() - started
    started = time.perf_counter()
    dummy_verify("wrong")
    dummy = time.perf_counter() - started
    assert dummy > real / 3, (dummy, real)  # the same work, within the machine's noise


NOW = datetime(2026, 12, 1, 4, 0)


def test_lockout_after_max_failures_and_not_extended_while_locked() -> None:
    state = Attempts()
    for n in range(1, MAX_FAILURES):
        state = after_failure(state, NOW)
        assert state == Attempts(n, None) and not is_locked(state, NOW)
    state = after_failure(state, NOW)
    assert is_locked(state, NOW) and state.locked_until == NOW + LOCK_FOR
    later = NOW + timedelta(minutes=10)
    assert after_failure(state, later) == state  # trying on does not extend the lock
    assert is_locked(state, NOW + LOCK_FOR - timedelta(seconds=1))
    assert not is_locked(state, NOW + LOCK_FOR)


def test_after_the_lock_runs_out_counting_starts_again() -> None:
    locked = Attempts(0, NOW)
    after = after_failure(locked, NOW + LOCK_FOR)
    assert after == Attempts(1, None)


def test_other_forms_and_weaker_argon2_need_a_rehash() -> None:
    for _, stored, kind in VECTORS:
        assert needs_rehash(stored), kind  # the argon2 vectors use m=1024, t=1
    assert not needs_rehash(hash_password("s3cret password"))
