"""The SMS log keeps bounded texts and a bounded number of rows (issue 12 item 10)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from tcu.sms_log import KEEP_ROWS, PRUNE_EVERY, TEXT_CAP, SmsLog, cap_text
from tests.tcu.test_sms_commands import MODPW, OWNER, Rig


def test_a_38000_character_sms_is_stored_cut_and_masked(tmp_path: Path) -> None:
    log = SmsLog(tmp_path / "sms_log.db")
    e = log.add("in", OWNER, "x" * 990 + " secretpw " + "y" * 37_000, 1.0, secrets=["secretpw"])
    (stored,) = [r for (r,) in log.conn.execute("SELECT text FROM sms_log")]
    assert stored == e.text and len(stored) < TEXT_CAP + 50
    assert "secretpw" not in stored and stored.endswith("characters, cut]")


def test_through_the_interpreter_too() -> None:
    rig = Rig(None)
    rig.sms("Hello " + "z" * 38_000)                 # unknown text from the owner
    rig.sms(f"STAT {MODPW} " + "w" * 38_000, sender="+447700900555")
    assert all(len(e.text) < TEXT_CAP + 50 for e in rig.log.recent(10))
    assert all(MODPW not in e.text for e in rig.log.recent(10))


def test_old_rows_are_pruned(tmp_path: Path) -> None:
    log = SmsLog(tmp_path / "sms_log.db")
    for n in range(KEEP_ROWS + 3 * PRUNE_EVERY):
        log.add("in", OWNER, f"STAT {n}", float(n))
    (count,) = log.conn.execute("SELECT COUNT(*) FROM sms_log").fetchone()
    assert KEEP_ROWS <= count <= KEEP_ROWS + PRUNE_EVERY
    assert log.recent(1)[0].text == f"STAT {KEEP_ROWS + 3 * PRUNE_EVERY - 1}"


@given(st.text(max_size=3000), st.integers(min_value=1, max_value=2000))
def test_cap_text_keeps_a_prefix_and_says_how_long(text: str, limit: int) -> None:
    out = cap_text(text, limit)
    if len(text) <= limit:
        assert out == text
    else:
        assert out.startswith(text[:limit]) and f"[{len(text)} characters, cut]" in out
        assert len(out) <= limit + 40
