"""Issue 14: what real DBCs did to the decoder, each as a minimal DBC.

Every test here failed on the decoder before the fix: a Motorola signal past the end of its
message, a multiplexer switch written `m`, a signal beyond the message's bytes, a multiplexed page
in `reference_decode`, the exact-division shortcut on big raw values.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from can_bus.profile import Profile, ProfileError, load_profile

HEADER = 'VERSION ""\nBS_:\nBU_: ECU\n'


def make(tmp_path: Path, dbc: str, metrics: str, extra: str = "") -> Profile:
    """A profile directory with this DBC body and [metrics] table, loaded through the front door."""
    (tmp_path / "car.dbc").write_text(HEADER + dbc)
    (tmp_path / "profile.toml").write_text(f'dbc = "car.dbc"\nstrict = false\n{extra}\n[metrics]\n{metrics}\n')
    return load_profile(tmp_path)


# A 24-byte (CAN FD) frame with a 14-bit Motorola signal at start bit 191: its MSB is the last
# byte's bit 7, so its 13 lower bits would lie after the frame.
OVERRUN = """
BO_ 300 Fd: 24 ECU
 SG_ Bad : 191|14@0+ (1,0) [0|0] "" ECU
 SG_ Good : 7|8@0+ (1,0) [0|0] "" ECU
 SG_ GoodLe : 16|8@1+ (1,0) [0|0] "" ECU
BO_ 301 Other: 8 ECU
 SG_ Soc : 0|8@1+ (0.5,0) [0|0] "%" ECU
"""


def test_signal_past_the_end_is_refused_at_load_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match=r"Fd\.Bad.*(runs past the end|fix its start bit)"):
        make(tmp_path, OVERRUN, '"v.b.temp" = { signal = "Fd.Bad" }\n"v.b.soc" = { signal = "Other.Soc" }')


def test_signal_past_the_end_does_not_take_down_the_rest(tmp_path: Path) -> None:
    """Unmapped, it is dropped with a warning; the message's other signals (both byte orders, so no
    XOR shortcut) and every other message decode."""
    profile = make(tmp_path, OVERRUN, '"v.b.temp" = { signal = "Fd.Good" }\n'
                                      '"v.m.temp" = { signal = "Fd.GoodLe" }\n"v.b.soc" = { signal = "Other.Soc" }')
    assert any("Fd.Bad" in w and "past the end" in w for w in profile.warnings)
    decoder = profile.decoder()
    frame = bytearray(24)
    frame[0], frame[2] = 42, 17
    assert dict(decoder.feed(300, bytes(frame))) == {"v.b.temp": 42, "v.m.temp": 17}
    assert decoder.feed(301, bytes([161]) + bytes(7)) == [("v.b.soc", 80.5)]
    assert profile.reference_decode(300, bytes(frame)) == {"v.b.temp": 42, "v.m.temp": 17}


def test_a_bad_signal_in_a_multiplexed_message_does_not_stop_its_pages(tmp_path: Path) -> None:
    """The slow (cantools) path cannot unpack a message with a signal past its end at all."""
    dbc = """
BO_ 512 Cells: 8 ECU
 SG_ Page M : 0|2@1+ (1,0) [0|0] "" ECU
 SG_ CellA m0 : 8|16@1+ (0.001,0) [0|0] "V" ECU
 SG_ CellB m1 : 8|16@1+ (0.001,0) [0|0] "V" ECU
 SG_ Junk : 60|8@1+ (1,0) [0|0] "" ECU
"""
    profile = make(tmp_path, dbc, '"v.b.voltage" = { signal = "Cells.CellA" }')
    decoder = profile.decoder()
    assert decoder.feed(512, bytes([0, 0x10, 0x0E]) + bytes(5)) == [("v.b.voltage", 3.6)]
    assert decoder.stats.malformed == 0


# VW PQ's Motor_2 (opendbc vw_pq.dbc): the switch is written `m`, its pages m0..m3.
LOWER_M = """
BO_ 648 Motor_2: 8 ECU
 SG_ MO2_Mp_Code m : 6|2@1+ (1,0) [0|3] "" ECU
 SG_ MO2_Getr_Code m2 : 0|6@1+ (1,0) [0|63] "" ECU
 SG_ MO2_max_Mo m3 : 0|6@1+ (10,0) [0|630] "Nm" ECU
 SG_ MO2_CAN_Vers m0 : 0|6@1+ (1,0) [0|63] "" ECU
 SG_ MO2_Motor_Code m1 : 0|6@1+ (1,0) [0|63] "" ECU
 SG_ MO2_Kuehlm_T : 8|8@1+ (0.75,-48) [-47.25|142.5] "C" ECU
"""
LOWER_M_METRICS = """
"x.vers" = { signal = "Motor_2.MO2_CAN_Vers", type = "int", custom = true }
"x.motor" = { signal = "Motor_2.MO2_Motor_Code", type = "int", custom = true }
"x.getr" = { signal = "Motor_2.MO2_Getr_Code", type = "int", custom = true }
"x.maxmo" = { signal = "Motor_2.MO2_max_Mo", type = "int", custom = true }
"v.m.temp" = { signal = "Motor_2.MO2_Kuehlm_T", round = 2 }
"""


def test_lower_case_multiplexer_switch_decodes_only_the_page_sent(tmp_path: Path) -> None:
    profile = make(tmp_path, LOWER_M, LOWER_M_METRICS)
    decoder = profile.decoder()
    page1 = bytes([(1 << 6) | 5, 100]) + bytes(6)
    assert dict(decoder.feed(648, page1)) == {"x.motor": 5, "v.m.temp": 27.0}
    page3 = bytes([(3 << 6) | 7, 100]) + bytes(6)
    assert dict(decoder.feed(648, page3)) == {"x.maxmo": 70}
    assert profile.reference_decode(648, page3) == {"x.maxmo": 70, "v.m.temp": 27.0}
    assert any("MO2_Mp_Code" in w for w in profile.warnings)


def test_reference_decode_of_another_page_has_no_entry(tmp_path: Path) -> None:
    profile = make(tmp_path, LOWER_M, '"x.vers" = { signal = "Motor_2.MO2_CAN_Vers", custom = true }')
    assert profile.reference_decode(648, bytes([1 << 6]) + bytes(7)) == {}
    assert profile.reference_decode(648, bytes([3]) + bytes(7)) == {"x.vers": 3}


def test_signal_beyond_the_message_bytes_invents_nothing(tmp_path: Path) -> None:
    """A 2-byte message whose DBC puts a temperature in byte 7: never −70 °C from bits not carried."""
    dbc = """
BO_ 256 Short: 2 ECU
 SG_ Temp : 56|8@1+ (1,-70) [0|0] "C" ECU
 SG_ Lo : 0|8@1+ (1,0) [0|0] "" ECU
"""
    with pytest.raises(ProfileError, match="Short.Temp"):
        make(tmp_path, dbc, '"v.e.temp" = { signal = "Short.Temp" }')
    ok = tmp_path / "ok"
    ok.mkdir()
    profile = make(ok, dbc, '"v.e.temp" = { signal = "Short.Lo" }')
    decoder = profile.decoder()
    assert decoder.feed(256, b"\x15\x00") == [("v.e.temp", 21)]
    assert decoder.feed(256, b"\x16") == []  # a frame shorter than its message: not present
    assert profile.reference_decode(256, b"\x16") == {}


def test_exact_division_shortcut_is_not_used_where_it_would_be_an_ulp_off(tmp_path: Path) -> None:
    dbc = """
BO_ 400 Big: 8 ECU
 SG_ Energy : 0|64@1+ (0.2,0) [0|0] "" ECU
"""
    profile = make(tmp_path, dbc, '"v.c.kwh" = { signal = "Big.Energy", round = 1 }')
    raw = 4023138937587624  # raw / 5 and round(raw * 0.2, 1) differ by one ulp
    assert raw / 5 != round(raw * 0.2, 1)
    data = raw.to_bytes(8, "little")
    assert dict(profile.decoder().feed(400, data)) == profile.reference_decode(400, data)
