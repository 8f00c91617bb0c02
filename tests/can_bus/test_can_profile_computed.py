"""Computed metrics (issue 14): power from voltage × current, min/max/average over many signals
(cell voltages on multiplexed pages), a VIN from its parts — declared in profile.toml, no Python."""

from __future__ import annotations

from pathlib import Path

import pytest

from can_bus.profile import Profile, ProfileError, load_profile

DBC = '''VERSION ""
BS_:
BU_: ECU
BO_ 528 Pack: 8 ECU
 SG_ Volt : 7|12@0+ (0.125,0) [0|0] "V" ECU
 SG_ Amps : 23|16@0- (0.1,0) [0|0] "A" ECU
BO_ 512 Cells: 8 ECU
 SG_ Bank M : 55|3@0+ (1,0) [0|0] "" ECU
 SG_ C0A m0 : 4|12@0+ (0.00125,0) [0|0] "V" ECU
 SG_ C0B m0 : 20|12@0+ (0.00125,0) [0|0] "V" ECU
 SG_ C1A m1 : 4|12@0+ (0.00125,0) [0|0] "V" ECU
 SG_ C1B m1 : 20|12@0+ (0.00125,0) [0|0] "V" ECU
BO_ 770 Temps: 8 ECU
 SG_ T1 : 0|8@1+ (0.5,-40) [0|0] "C" ECU
 SG_ T2 : 8|8@1+ (0.5,-40) [0|0] "C" ECU
 SG_ T3 : 16|8@1+ (0.5,-40) [0|0] "C" ECU
BO_ 1001 VIN_1: 8 ECU
 SG_ Part1 : 0|64@1+ (1,0) [0|0] "" ECU
BO_ 1002 VIN_2: 8 ECU
 SG_ Part2 : 0|64@1+ (1,0) [0|0] "" ECU
BO_ 1003 VIN_3: 1 ECU
 SG_ Part3 : 0|8@1+ (1,0) [0|0] "" ECU
BO_ 1010 VinPage: 8 ECU
 SG_ Page M : 0|8@1+ (1,0) [0|0] "" ECU
 SG_ Chars0 m0 : 15|56@0+ (1,0) [0|0] "" ECU
 SG_ Chars1 m1 : 15|56@0+ (1,0) [0|0] "" ECU
 SG_ Chars2 m2 : 15|56@0+ (1,0) [0|0] "" ECU
'''
CHAR_MESSAGES = "".join(
    f"BO_ {1020 + k} VinChars{k}: 8 ECU\n"
    + "".join(f' SG_ Ch{k * 8 + i} : {i * 8}|8@1+ (1,0) [0|0] "" ECU\n' for i in range(8 if k < 2 else 1))
    for k in range(3))

TOML = '''dbc = "car.dbc"
[metrics]
"v.b.voltage" = { signal = "Pack.Volt", round = 1 }
"v.b.current" = { signal = "Pack.Amps", round = 1 }
[computed]
"v.b.power" = { op = "product", inputs = ["v.b.voltage", "v.b.current"], scale = 0.001, round = 2 }
"v.b.c.voltage.min" = { op = "min", inputs = ["Cells.C*"], round = 4 }
"v.b.c.voltage.max" = { op = "max", inputs = ["Cells.C*"], round = 4 }
"v.b.p.temp.avg" = { op = "avg", inputs = ["Temps.T?"], round = 1 }
"v.vin" = { op = "text", inputs = ["VIN_1.Part1", "VIN_2.Part2", "VIN_3.Part3"] }
"xvin.chars" = { op = "text", inputs = ["VinChars*.Ch*"], custom = true }
"xvin.pages" = { op = "text", inputs = ["VinPage.Chars0", "VinPage.Chars1", "VinPage.Chars2"], custom = true }
'''
VIN = "1G1FW6S00H4100001"


@pytest.fixture
def profile(tmp_path: Path) -> Profile:
    (tmp_path / "car.dbc").write_text(DBC + CHAR_MESSAGES)
    (tmp_path / "profile.toml").write_text(TOML)
    return load_profile(tmp_path)


def frame(profile: Profile, name: str, **values: float) -> tuple[int, bytes]:
    message = profile.message(name)
    full: dict[str, float] = {s.name: 0 for s in message.signals}
    full.update(values)
    return message.frame_id, bytes(message.encode(full, strict=False))


def test_power_from_voltage_and_current(profile: Profile) -> None:
    decoder = profile.decoder()
    out = dict(decoder.feed(*frame(profile, "Pack", Volt=360.5, Amps=-120.3)))
    assert out == {"v.b.voltage": 360.5, "v.b.current": -120.3, "v.b.power": round(360.5 * -120.3 * 0.001, 2)}
    assert profile.units["v.b.power"] == "kW"
    assert decoder.feed(*frame(profile, "Pack", Volt=360.5, Amps=-120.3)) == []
    out = dict(decoder.feed(*frame(profile, "Pack", Volt=360.5, Amps=10.0)))
    assert out == {"v.b.current": 10.0, "v.b.power": 3.6}
    decoder.reset()
    assert "v.b.power" in dict(decoder.feed(*frame(profile, "Pack", Volt=360.5, Amps=10.0)))


def test_cell_min_max_over_multiplexed_pages_once_every_cell_is_seen(profile: Profile) -> None:
    decoder = profile.decoder()
    assert decoder.feed(*frame(profile, "Cells", Bank=0, C0A=3.9, C0B=3.95)) == []  # page 1 not yet seen
    out = dict(decoder.feed(*frame(profile, "Cells", Bank=1, C1A=3.85, C1B=4.0)))
    assert out == {"v.b.c.voltage.min": 3.85, "v.b.c.voltage.max": 4.0}
    out = dict(decoder.feed(*frame(profile, "Cells", Bank=0, C0A=3.8, C0B=3.95)))
    assert out == {"v.b.c.voltage.min": 3.8}


def test_average_temperature(profile: Profile) -> None:
    out = dict(profile.decoder().feed(*frame(profile, "Temps", T1=20, T2=21, T3=25.5)))
    assert out == {"v.b.p.temp.avg": 22.2}


def test_vin_from_three_kinds_of_parts(profile: Profile) -> None:
    decoder = profile.decoder()
    text = VIN.encode()
    out: dict = {}
    # Plain 8-byte parts: bytes in frame order.
    for name, chunk in (("VIN_1", text[:8]), ("VIN_2", text[8:16]), ("VIN_3", text[16:])):
        fid = profile.message(name).frame_id
        out.update(decoder.feed(fid, chunk))
    # One signal per character.
    for k in range(3):
        fid = profile.message(f"VinChars{k}").frame_id
        chunk = text[k * 8:(k + 1) * 8]
        out.update(decoder.feed(fid, chunk.ljust(profile.message(f"VinChars{k}").length, b"\0")))
    # Multiplexed pages of 7 characters, the page number in byte 0.
    fid = profile.message("VinPage").frame_id
    for page in range(3):
        out.update(decoder.feed(fid, bytes([page]) + text[page * 7:(page + 1) * 7].ljust(7, b"\0")))
    assert out == {"v.vin": VIN, "xvin.chars": VIN, "xvin.pages": VIN}


@pytest.mark.parametrize(("entry", "message"), [
    ('{ op = "median", inputs = ["Temps.T1"] }', "op 'median'"),
    ('{ op = "min", inputs = [] }', "inputs"),
    ('{ op = "min", inputs = ["Nope.*"] }', "matches no signal"),
    ('{ op = "product", inputs = ["v.b.voltage"] }', "at least two"),
    ('{ op = "text", inputs = ["Temps.T1"] }', "scale 1"),
    ('{ op = "min", inputs = ["Temps.T1"], rnd = 1 }', "'round'"),
])
def test_computed_mistakes_are_profile_errors(tmp_path: Path, entry: str, message: str) -> None:
    (tmp_path / "car.dbc").write_text(DBC)
    (tmp_path / "profile.toml").write_text('dbc = "car.dbc"\n[metrics]\n"v.b.voltage" = { signal = "Pack.Volt" }\n'
                                           f'[computed]\n"v.b.p.temp.avg" = {entry}\n')
    with pytest.raises(ProfileError, match=r"\[computed\] 'v.b.p.temp.avg'") as info:
        load_profile(tmp_path)
    assert message in str(info.value)
