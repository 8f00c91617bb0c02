"""The tolerant DBC load (issue 14): each recurring real-world defect as a minimal DBC that
cantools refuses, which the pre-pass repairs and reports; a profile with `tolerant = true` loads it."""

from __future__ import annotations

from pathlib import Path

import cantools
import pytest
from cantools.database.can import Database
from hypothesis import given, settings
from hypothesis import strategies as st

from can_bus.dbc_repair import fix_switch_case, repair_dbc
from can_bus.profile import ProfileError, load_profile

BASE = '''VERSION ""
BS_:
BU_: ECU
BO_ 256 Msg: 8 ECU
 SG_ Sig : 0|8@1+ (1,0) [0|0] "" ECU
 SG_ Half : 8|8@1+ (0.5,0) [0|0] "" ECU
BO_ 257 Msg2: 8 ECU
 SG_ Sig2 : 0|8@1+ (1,0) [0|0] "" ECU
'''

def load(text: str) -> Database:
    db = cantools.database.load_string(text, database_format="dbc")
    assert isinstance(db, Database)
    return db


DEFECTS = {
    "comment-no-signal": BASE + 'CM_ SG_ 256 "a signal comment without the signal name";\n',
    "extended-id": BASE + 'BO_ 419364350 Ext: 8 ECU\n SG_ E : 0|8@1+ (1,0) [0|0] "" ECU\n'
                          'CM_ BO_ 419364350 "J1939 style";\nVAL_ 419364350 E 0 "off" 1 "on" ;\n',
    "leading-dot": BASE.replace("(0.5,0) [0|0]", "(.25,-.5) [0|.75]"),
    "val-other-message": BASE + 'VAL_ 256 Sig2 0 "off" 1 "on" ;\n',
    "val-no-message": BASE + 'VAL_ 999 Sig 0 "off" 1 "on" ;\n',
    "comment-bare-id": BASE + 'CM_ 256 "a message comment without BO_";\n',
}


@pytest.mark.parametrize("kind", sorted(DEFECTS))
def test_each_defect_is_refused_by_cantools_and_repaired_with_a_report(kind: str) -> None:
    text = DEFECTS[kind]
    with pytest.raises(cantools.database.UnsupportedDatabaseFormatError):
        cantools.database.load_string(text, database_format="dbc")
    repaired, repairs = repair_dbc(text)
    assert [r.kind for r in repairs] == [kind.replace("val-no-message", "val-other-message")]
    assert repairs[0].line == len(BASE.splitlines()) + 1 or kind == "leading-dot"
    db = load(repaired)
    assert db.get_message_by_name("Msg").get_signal_by_name("Sig")


def test_repairs_mean_what_the_author_meant() -> None:
    db = load(repair_dbc(DEFECTS["extended-id"])[0])
    ext = db.get_message_by_name("Ext")
    assert ext.is_extended_frame and ext.frame_id == 419364350
    assert ext.comment == "J1939 style" and ext.get_signal_by_name("E").choices == {0: "off", 1: "on"}
    half = load(repair_dbc(DEFECTS["leading-dot"])[0]).get_message_by_name("Msg")
    assert half.get_signal_by_name("Half").scale == 0.25 and half.get_signal_by_name("Half").offset == -0.5
    msg = load(repair_dbc(DEFECTS["comment-bare-id"])[0]).get_message_by_name("Msg")
    assert msg.comment == "a message comment without BO_"


def test_a_sound_dbc_is_left_alone() -> None:
    assert repair_dbc(BASE) == (BASE, [])
    real = Path(__file__).parents[2] / "can_bus/profiles/hyundai-kia-mcan/hyundai_2015_mcan.dbc"
    text = real.read_text(encoding="cp1252")
    assert repair_dbc(text) == (text, [])


def test_profile_tolerant_load_reports_every_repair(tmp_path: Path) -> None:
    dbc = (BASE + 'CM_ SG_ 256 "x";\nCM_ 257 "y";\nVAL_ 256 Sig2 0 "off" ;\n'
           'BO_ 2365587454 Fine: 8 ECU\n SG_ F : 0|8@1+ (1,0) [0|0] "" ECU\n').replace("(0.5,0)", "(.5,0)")
    (tmp_path / "car.dbc").write_text(dbc)
    (tmp_path / "profile.toml").write_text('dbc = "car.dbc"\n[metrics]\n"v.b.soc" = { signal = "Msg.Half" }\n')
    with pytest.raises(ProfileError, match="tolerant = true"):
        load_profile(tmp_path)
    tolerant = tmp_path / "tolerant"
    tolerant.mkdir()
    (tolerant / "car.dbc").write_text(dbc)
    (tolerant / "profile.toml").write_text('dbc = "car.dbc"\ntolerant = true\n[metrics]\n'
                                           '"v.b.soc" = { signal = "Msg.Half" }\n')
    profile = load_profile(tolerant)
    kinds = sorted(w.split(": ")[2] for w in profile.warnings)  # "car.dbc repaired: line N: kind: what"
    assert kinds == ["comment-bare-id", "comment-no-signal", "leading-dot", "val-other-message"]
    assert profile.decoder().feed(256, bytes([0, 9]) + bytes(6)) == [("v.b.soc", 4.5)]


def test_lower_case_switch_is_read_as_the_switch() -> None:
    text = BASE + ('BO_ 648 Motor_2: 8 ECU\n SG_ Code m : 6|2@1+ (1,0) [0|3] "" ECU\n'
                   ' SG_ A m0 : 0|6@1+ (1,0) [0|63] "" ECU\n SG_ B m1 : 0|6@1+ (1,0) [0|63] "" ECU\n')
    fixed, repairs = fix_switch_case(text)
    assert [(r.kind, r.line) for r in repairs] == [("switch-case", len(BASE.splitlines()) + 2)]
    msg = load(fixed).get_message_by_name("Motor_2")
    assert msg.is_multiplexed() and msg.decode(bytes([0x45]) + bytes(7)) == {"Code": 1, "B": 5}
    assert fix_switch_case(BASE) == (BASE, [])


DBC_WORDS = ["BO_ ", "SG_ ", "CM_ ", "VAL_ ", "BA_ ", "SG_MUL_VAL_ ", "BO_TX_BU_ ", " m ", " m0 ", " M ",
             "256", "419364350", ".25", "-.5", '"', ";", ":", "|", "@1+", "(", ")", ",", "[", "]", "\n", " "]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(DBC_WORDS), st.text(max_size=6)), max_size=60))
def test_repair_never_crashes_on_arbitrary_text(parts: list[str]) -> None:
    text = "".join(parts)
    for fix in (repair_dbc, fix_switch_case):
        out, repairs = fix(text)
        assert isinstance(out, str)
        assert all(r.line >= 1 for r in repairs)
    assert repair_dbc(repair_dbc(text)[0])[1] == []  # repairing twice finds nothing more
