"""The alert tag: the id that travels with an alert to the server and the owner's phone.

The unit writes it into every alert text; the server's duplicate filter, the simulated world's
report and anyone reading a received text find the alert by it.
"""

from __future__ import annotations

import re

_TAG = re.compile(r"#a(\d+)\b")


def alert_tag(alert_id: int, space: str = "") -> str:
    """The marker that travels with alert `alert_id` to the server and the phone: `#a17-k3fq`.

    `space` is the outbox file's random tag space (tcu.outbox): ids restart when the state directory
    is lost, the space does not repeat, so the server's 24 h duplicate filter (keyed on the whole
    text) never takes a new alarm for an old one. It follows the number so that `#a<digits>` — the
    server's and `alert_ids`' pattern — still finds the tag."""
    return f"#a{alert_id}-{space}" if space else f"#a{alert_id}"


def alert_ids(text: str) -> list[int]:
    """All alert ids found in a received text (a coalesced SMS may carry several)."""
    return [int(m) for m in _TAG.findall(text)]
