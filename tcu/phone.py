"""Phone numbers in E.164, so that the owner check is an exact comparison, never a prefix match.

OVMS v2 compared caller IDs by prefix (`+4477` matched `+447700900123`); we normalise both sides to
E.164 and compare the whole string.
"""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\s\-().\/]")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")  # ITU-T E.164: at most 15 digits, no leading 0 country code


def normalise_number(text: str, default_cc: str | None = None) -> str:
    """Return `text` as E.164 (`+447700900123`) or raise ValueError saying why not.

    `00` international prefix becomes `+`. A national number (leading `0`) needs `default_cc`
    (e.g. "44") to be turned into E.164; without it, it is rejected rather than guessed.
    """
    s = _SEPARATORS.sub("", text.strip())
    if s.startswith("00"):
        s = "+" + s[2:]
    elif not s.startswith("+"):
        if default_cc and s.startswith("0") and s[1:].isdigit():
            s = "+" + default_cc + s[1:]
        elif s.isdigit() and len(s) > 9:
            s = "+" + s  # international number without '+', as some networks send caller IDs
        else:
            raise ValueError(f"not an international (E.164) number: {text!r}")
    if not _E164.fullmatch(s):
        raise ValueError(f"not an international (E.164) number: {text!r}")
    return s


def try_normalise(text: str, default_cc: str | None = None) -> str | None:
    """`normalise_number` that returns None for anything that is not a phone number (e.g. `Vodafone`)."""
    try:
        return normalise_number(text, default_cc)
    except ValueError:
        return None


def is_alphanumeric_sender(sender: str) -> bool:
    """Operator messages come from alphanumeric senders (`Vodafone`, `O2-UK`), never from a number."""
    s = _SEPARATORS.sub("", sender.strip()).lstrip("+")
    return bool(s) and not s.isdigit()
