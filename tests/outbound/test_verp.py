"""verp_signature's keyed HMAC copy and base32 look-ups (issue 20) against hmac.new and
base64.b32encode."""

from __future__ import annotations

import base64
import hashlib
import hmac
import random

import pytest

from maildesk.outbound.verp import verp_signature


def _reference(secret: bytes, outbox_id: int) -> str:
    digest = hmac.new(secret, f"verp:{outbox_id}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest[:5]).decode().lower()


@pytest.mark.parametrize("length", [0, 1, 32, 63, 64, 65, 200])
def test_same_signature_as_hmac_new(length: int) -> None:
    rng = random.Random(length)
    for _ in range(300):
        secret = rng.randbytes(length)
        outbox_id = rng.choice([0, 1, 7, 2**31, rng.randint(0, 10**12)])
        assert verp_signature(secret, outbox_id) == _reference(secret, outbox_id)


def test_eight_base32_characters() -> None:
    signature = verp_signature(b"k" * 32, 42)
    assert len(signature) == 8 and signature.isalnum() and signature.islower()
