"""Every test vector of docs ovms-v2-server.md §2, reproduced exactly."""

import random

import pytest

from ovms_v2.crypto import (
    RC4,
    TOKEN_ALPHABET,
    DecodeError,
    decrypt_line,
    digest,
    encrypt_line,
    make_ciphers,
    random_token,
    session_key,
)

PASS = "carpass123"
CTOK = "ClientToken0123456789A"
STOK = "ServerTokenABCDEFGHIJK"


def test_rc4_sanity_vector() -> None:
    assert RC4(b"Key").crypt(b"Plaintext").hex() == "bbf316e8d940af0ad3"


def test_welcome_digests() -> None:
    assert f"MP-C 0 {CTOK} {digest(PASS, CTOK)} TESTCAR" == (
        "MP-C 0 ClientToken0123456789A 5FR5XJkB6iYZlbwK6R90Qw== TESTCAR")
    assert f"MP-S 0 {STOK} {digest(PASS, STOK)}" == "MP-S 0 ServerTokenABCDEFGHIJK 6Bb+ifeOguNijmnJ4lGFDQ=="


def test_session_key_server_token_first() -> None:
    assert session_key(PASS, STOK, CTOK).hex() == "800faf799025b3dc3730d1686b1bb895"
    assert session_key(PASS, CTOK, STOK).hex() != "800faf799025b3dc3730d1686b1bb895"


def test_stream_lines_with_discard() -> None:
    tx, _ = make_ciphers(session_key(PASS, STOK, CTOK))
    assert encrypt_line(tx, "MP-0 A") == b"B1ze2MQN"
    assert encrypt_line(tx, "MP-0 Z0") == b"6QjzW7u8bA=="


def test_forgetting_the_discard_gives_the_wrong_line() -> None:
    assert encrypt_line(RC4(session_key(PASS, STOK, CTOK)), "MP-0 A") == b"CdPNOLeR"


def test_decrypt_inverts_and_rejects_bad_base64() -> None:
    key = session_key(PASS, STOK, CTOK)
    _, rx = make_ciphers(key)
    assert decrypt_line(rx, b"B1ze2MQN") == "MP-0 A"
    assert decrypt_line(rx, b"6QjzW7u8bA==") == "MP-0 Z0"
    with pytest.raises(DecodeError):
        decrypt_line(make_ciphers(key)[1], b"B1ze2MQ")      # truncated
    with pytest.raises(DecodeError):
        decrypt_line(make_ciphers(key)[1], "B1zé2MQN".encode())


def test_random_token_is_injectable_and_deterministic() -> None:
    a = random_token(random.Random(7))
    assert a == random_token(random.Random(7))
    assert len(a) == 22 and set(a) <= set(TOKEN_ALPHABET)
    assert random_token(lambda: 0.0) == "A" * 22
    assert len(random_token()) == 22
