"""Typed errors of the SMS codec: every malformed input ends up as one of these."""


class SmsError(ValueError):
    """A PDU, text or parameter the codec cannot accept (the peer's mistake, not ours)."""


class SmsTooLong(SmsError):
    """The text does not fit in the allowed number of message parts."""
