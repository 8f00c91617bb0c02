"""Issue 14: a person's mistakes in profile.toml are ProfileErrors naming the file, the entry and
what was expected — never a bare ValueError/KeyError, never silently accepted."""

from __future__ import annotations

from pathlib import Path

import pytest

from can_bus.profile import ProfileError, load_profile

DBC = '''VERSION ""
BS_:
BU_: ECU
BO_ 256 Drive: 8 ECU
 SG_ Gear : 0|2@1+ (1,0) [0|3] "" ECU
 SG_ Volt : 8|16@1+ (0.1,0) [0|0] "V" ECU
VAL_ 256 Gear 0 "P" 1 "R" 2 "N" 3 "D" ;
'''


def write(tmp_path: Path, toml: str, dbc: str | None = DBC) -> Path:
    if dbc is not None:
        (tmp_path / "car.dbc").write_text(dbc)
    (tmp_path / "profile.toml").write_text(toml)
    return tmp_path


def error_of(tmp_path: Path, toml: str, dbc: str | None = DBC) -> str:
    with pytest.raises(ProfileError) as info:
        load_profile(write(tmp_path, toml, dbc))
    text = str(info.value)
    assert str(tmp_path / "profile.toml") in text  # names the file
    return text


def test_map_keyed_by_value_table_names_resolves_them(tmp_path: Path) -> None:
    profile = load_profile(write(tmp_path, 'dbc = "car.dbc"\n[metrics]\n'
                                 '"v.e.gear" = { signal = "Drive.Gear", type = "int", map = { "P" = 0, "R" = -1, "D" = 1 } }\n'))
    assert profile.metrics[0].map == {0: 0, 1: -1, 3: 1}
    assert profile.decoder().feed(256, bytes([3]) + bytes(7)) == [("v.e.gear", 1)]


def test_map_key_that_is_neither_raw_nor_a_value_name(tmp_path: Path) -> None:
    text = error_of(tmp_path, 'dbc = "car.dbc"\n[metrics]\n"v.e.gear" = { signal = "Drive.Gear", map = { "Park" = 0 } }\n')
    assert "'v.e.gear'" in text and "'Park'" in text and "D, N, P, R" in text


def test_entry_without_signal(tmp_path: Path) -> None:
    text = error_of(tmp_path, 'dbc = "car.dbc"\n[metrics]\n"v.b.voltage" = { round = 1 }\n')
    assert "'v.b.voltage'" in text and "signal" in text


def test_missing_dbc_key_says_so(tmp_path: Path) -> None:
    text = error_of(tmp_path, '[metrics]\n"v.b.voltage" = { signal = "Drive.Volt" }\n')
    assert "dbc" in text and "Is a directory" not in text


def test_misspelt_option_is_refused_with_a_suggestion(tmp_path: Path) -> None:
    text = error_of(tmp_path, 'dbc = "car.dbc"\n[metrics]\n"v.b.voltage" = { signal = "Drive.Volt", rnd = 1 }\n')
    assert "'rnd'" in text and "'round'" in text and "'v.b.voltage'" in text


def test_misspelt_metric_name_is_refused_custom_is_declared(tmp_path: Path) -> None:
    text = error_of(tmp_path, 'dbc = "car.dbc"\n[metrics]\n"v.b.volatge" = { signal = "Drive.Volt" }\n')
    assert "'v.b.volatge'" in text and "'v.b.voltage'" in text and "custom = true" in text
    ok = tmp_path / "ok"
    ok.mkdir()
    profile = load_profile(write(ok, 'dbc = "car.dbc"\n[metrics]\n"xmy.volt" = { signal = "Drive.Volt", custom = true }\n'))
    assert profile.metrics[0].metric == "xmy.volt"


def test_unknown_top_level_key_and_bad_values(tmp_path: Path) -> None:
    assert "'metric'" in error_of(tmp_path, 'dbc = "car.dbc"\n[metric]\n')
    assert "scale must be a number" in error_of(
        tmp_path, 'dbc = "car.dbc"\n[metrics]\n"v.b.voltage" = { signal = "Drive.Volt", scale = "2" }\n')
    assert "Message.Signal" in error_of(tmp_path, 'dbc = "car.dbc"\n[metrics]\n"v.b.voltage" = { signal = "Volt" }\n')
    assert "did you mean 'Volt'" in error_of(
        tmp_path, 'dbc = "car.dbc"\n[metrics]\n"v.b.voltage" = { signal = "Drive.Vlot" }\n')
    assert "no DBC file" in error_of(tmp_path, 'dbc = "nope.dbc"\n')


def test_unloadable_dbc_says_what_to_do(tmp_path: Path) -> None:
    text = error_of(tmp_path, 'dbc = "car.dbc"\n', DBC + 'CM_ 256 "a comment with a bare id";\n')
    assert "tolerant = true" in text
