"""Parameters: TOML + flags + SQLite overrides, validation errors naming the setting, secrets."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcu.params import ConfigError, Params, load_toml
from tcu.phone import is_alphanumeric_sender, normalise_number, try_normalise

CONFIG = """
owner = "+44 7700 900123"
module_password = "s3cretpw"
vehicle_id = "DEMO1"
tz_offset = "+01:00"
[server]
host = "127.0.0.1:7777"
password = "netpass99"
[alert]
soc_low = 15
sms_per_day = 5
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "tcu.toml"
    p.write_text(text)
    return p


def test_load_config_and_types(tmp_path: Path) -> None:
    p = Params.from_files(write(tmp_path, CONFIG))
    assert p["owner"] == "+447700900123"
    assert p["server"] == "127.0.0.1:7777"
    assert p["server_password"] == "netpass99"
    assert p["tz_offset"] == 60
    assert p["alert.soc_low"] == 15.0
    assert p["alert.sms_per_day"] == 5
    assert p["alert.moved_m"] == 500.0  # default
    assert p["paranoid"] is False


@pytest.mark.parametrize(
    "text, message",
    [
        ('server = "a:b:c"', "server: expected HOST[:PORT], got 'a:b:c'"),
        ('server = "host:99999"', "server: expected HOST[:PORT]"),
        ('owner = "12"', "owner: not an international"),
        ('module_password = "ab"', "module_password: expected at least 4"),
        ('paranoid = true', "paranoid: paranoid mode is not supported"),
        ('colour = "red"', "colour: unknown setting"),
        ("[alert]\nsoc_low = 150", "alert.soc_low: expected 0..100"),
        ("[alert]\nsms_per_day = 2.5", "alert.sms_per_day: expected a whole number"),
        ('tz_offset = "moon"', "tz_offset: expected minutes"),
        ("server = [", "config:"),
    ],
)
def test_errors_name_the_setting(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        load_toml(write(tmp_path, text))
    assert str(e.value).startswith(message)


def test_missing_file_and_required(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config: file not found"):
        load_toml(tmp_path / "nope.toml")
    p = Params({"server": "example.org"})
    assert p["server"] == "example.org:6867"
    with pytest.raises(ConfigError, match="^vehicle_id: required"):
        p.require(["server", "vehicle_id"])


def test_flags_beat_file_and_overrides_beat_both(tmp_path: Path) -> None:
    db = tmp_path / "state.sqlite"
    cfg = write(tmp_path, CONFIG)
    p = Params.from_files(cfg, db, flags={"vehicle_id": "FLAG1", "owner": None})
    assert p["vehicle_id"] == "FLAG1"
    assert p["owner"] == "+447700900123"
    seen = []
    p.subscribe(lambda n, v: seen.append((n, v)))
    assert p.set("server", "example.org", source="sms") == "example.org:6867"
    assert seen == [("server", "example.org:6867")]
    p.set_many({"apn": "internet", "apn_user": "", "apn_password": "pw"})
    # restart: overrides survive and win over the file
    p2 = Params.from_files(cfg, db)
    assert p2["server"] == "example.org:6867"
    assert p2["apn"] == "internet"
    p2.reset("server")
    assert p2["server"] == "127.0.0.1:7777"
    assert Params.from_files(cfg, db)["server"] == "127.0.0.1:7777"


def test_runtime_set_validates_and_refuses_device_settings(tmp_path: Path) -> None:
    p = Params({}, tmp_path / "s.sqlite")
    with pytest.raises(ConfigError, match="^server:"):
        p.set("server", "bad host!")
    with pytest.raises(ConfigError, match="^modem: cannot be changed"):
        p.set("modem", "/dev/ttyS0")
    with pytest.raises(ConfigError):  # all-or-nothing
        p.set_many({"apn": "ok", "owner": "nonsense"})
    assert p["apn"] == ""


def test_secrets_hidden_and_not_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    p = Params.from_files(write(tmp_path, CONFIG), tmp_path / "s.sqlite")
    with caplog.at_level(logging.DEBUG):
        p.set("module_password", "newsecret1")
        p.set("server_password", "othersecret")
    shown = dict(p.public_items())
    assert shown["module_password"] == "(set)"
    assert shown["apn_password"] == "(not set)"
    assert shown["vehicle_id"] == "DEMO1"
    text = " ".join(v for _, v in p.public_items()) + caplog.text
    for secret in ("newsecret1", "othersecret", "s3cretpw", "netpass99"):
        assert secret not in text
    assert "module_password changed" in caplog.text
    assert set(p.secrets()) == {"newsecret1", "othersecret"}
    assert p.is_secret("server_password") and not p.is_secret("server")


def test_server_forms() -> None:
    p = Params({})
    assert p.set("server", "[::1]:6868") == "[::1]:6868"
    assert p.set("server", "[::1]") == "[::1]:6867"
    assert p.set("server", "ovms.example.com") == "ovms.example.com:6867"
    for bad in ("a b", "host:", ":80", "-x.org", "h:0"):
        with pytest.raises(ConfigError):
            p.set("server", bad)


def test_phone_normalisation() -> None:
    assert normalise_number("+44 7700-900123") == "+447700900123"
    assert normalise_number("0044 7700 900123") == "+447700900123"
    assert normalise_number("447700900123") == "+447700900123"
    assert normalise_number("07700 900123", default_cc="44") == "+447700900123"
    for bad in ("07700900123", "+0123456789", "+12", "+1234567890123456", "Vodafone", ""):
        with pytest.raises(ValueError):
            normalise_number(bad)
    assert try_normalise("O2-UK") is None
    assert is_alphanumeric_sender("Vodafone") and not is_alphanumeric_sender("+447700900123")


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.text(max_size=30), st.integers(), st.floats(), st.booleans()))
def test_validation_only_raises_config_error(value: object) -> None:
    p = Params({})
    for name in ("owner", "server", "tz_offset", "alert.soc_low", "alert.sms_per_day", "vehicle_id",
                 "module_password"):
        try:
            v = p.set(name, value)
        except ConfigError as e:
            assert str(e).startswith(name + ":")
        else:
            assert p.set(name, str(v) if not isinstance(v, bool) else v) == v  # stored text re-parses


def test_ovms_param_numbers(tmp_path: Path) -> None:
    p = Params.from_files(write(tmp_path, CONFIG), tmp_path / "s.sqlite")
    listing = dict(p.ovms_list())
    assert listing[0] == "+447700900123" and listing[4] == "127.0.0.1:7777" and listing[8] == "DEMO1"
    assert listing[1] == "" and listing[9] == "" and listing[10] == ""  # secrets never in clear
    assert p.set_ovms(5, "internet") == "internet" and p["apn"] == "internet"
    with pytest.raises(ConfigError, match="^param 3: not supported"):
        p.set_ovms(3, "x")
    with pytest.raises(ConfigError, match="^paranoid:"):
        p.set_ovms(10, "yes")


def test_power_key_is_a_validated_device_setting() -> None:
    from can_bus.profile import available_profiles

    p = Params({"power_key": "gpio:4"})
    assert p["power_key"] == "gpio:4"
    assert Params()["power_key"] == "none"
    for bad in ("gpio", "virtual:", "usb:1"):
        with pytest.raises(ConfigError, match="^power_key: "):
            Params({"power_key": bad})
    with pytest.raises(ConfigError):
        p.set("power_key", "none", "sms")  # a device setting: not changeable at run time
    assert Params()["profile"] in available_profiles()  # the default profile is one that ships


def test_tcu_run_settings_come_from_load_toml_with_flags_on_top(tmp_path) -> None:
    import argparse

    from tcu.config_cli import StartError, add_run_args, load_settings

    cfg = tmp_path / "tcu.toml"
    cfg.write_text('modem = "/dev/serial0"\npower_key = "gpio:4"\n[server]\nhost = "h:1"\npassword = "pw123"\n')
    parser = argparse.ArgumentParser()
    add_run_args(parser)
    values = load_settings(parser.parse_args(["--config", str(cfg), "--modem", "/dev/ttyUSB2"]))
    assert values["modem"] == "/dev/ttyUSB2" and values["power_key"] == "gpio:4"
    assert values["server"] == "h:1" and values["server_password"] == "pw123"
    cfg.write_text('power_key = "gpx"\n')
    with pytest.raises(StartError, match="^power_key: "):
        load_settings(parser.parse_args(["--config", str(cfg)]))


OLD_OWNER, NEW_OWNER, OTHER_OWNER = "+447700900123", "+447700900555", "+447700900777"


def _start(db: Path, owner: str, caplog: pytest.LogCaptureFixture, **more: object) -> Params:
    """One `tcu run` start as far as parameters go: flags with their origins, then params.db."""
    caplog.clear()
    values: dict[str, object] = {"owner": owner, "module_password": "s3cretpw", **more}
    origins = {"owner": "flag --owner", "module_password": "environment $TCU_MODULE_PASSWORD"}
    with caplog.at_level(logging.INFO, logger="tcu.params"):
        p = Params.open(values, db, 1_800_000_000.0, origins=origins)
    p.wall = lambda: 1_800_000_100.0
    return p


def test_sms_register_beats_an_unchanged_flag_and_says_so(tmp_path: Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    """Issue 13: an SMS REGISTER silently beat --owner on the next start. The rule: the newer change
    wins, and the start logs it."""
    db = tmp_path / "params.db"
    p = _start(db, OLD_OWNER, caplog)
    p.set("owner", NEW_OWNER, source=f"SMS REGISTER from {NEW_OWNER}")
    p.close()
    p = _start(db, OLD_OWNER, caplog)                  # restarted with the same --owner (systemd)
    assert p["owner"] == NEW_OWNER
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert lines == [f"owner: '{NEW_OWNER}' set by SMS REGISTER from {NEW_OWNER} at 2027-01-15 08:01:40 UTC "
                     f"overrides flag --owner '{OLD_OWNER}' (until that changes)"]
    owner = next(e for e in p.provenance() if e["name"] == "owner")
    assert owner == {"name": "owner", "secret": False, "value": NEW_OWNER, "source": f"SMS REGISTER from {NEW_OWNER}",
                     "at": 1_800_000_100.0, "overrides": "flag --owner"}
    p.close()


def test_a_changed_flag_beats_the_older_sms_change(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "params.db"
    p = _start(db, OLD_OWNER, caplog)
    p.set("owner", NEW_OWNER, source=f"SMS REGISTER from {NEW_OWNER}")
    p.close()
    p = _start(db, OTHER_OWNER, caplog)                # the admin edited --owner after the SMS
    assert p["owner"] == OTHER_OWNER
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert lines == [f"owner: flag --owner '{OTHER_OWNER}' replaces '{NEW_OWNER}' set by SMS REGISTER from "
                     f"{NEW_OWNER} at 2027-01-15 08:01:40 UTC (it changed after that)"]
    assert next(e for e in p.provenance() if e["name"] == "owner")["source"] == "flag --owner"
    p.close()
    # the stored change is gone: going back to the old flag does not bring the SMS value back
    p = _start(db, OLD_OWNER, caplog)
    assert p["owner"] == OLD_OWNER and not [r for r in caplog.records if r.levelno == logging.INFO]
    p.close()


def test_provenance_of_every_parameter_never_shows_a_secret(tmp_path: Path,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    p = _start(tmp_path / "params.db", OLD_OWNER, caplog)
    p.set("server_password", "changedpw9", source="server command 4")
    table = {e["name"]: e for e in p.provenance()}
    assert set(table) == {s.name for s in __import__("tcu.params").params.SPECS}
    assert table["module_password"] == {"name": "module_password", "secret": True, "value": "set",
                                        "source": "environment $TCU_MODULE_PASSWORD", "at": None}
    assert table["server_password"]["value"] == "set" and table["server_password"]["source"] == "server command 4"
    assert table["apn_password"]["value"] == "unset" and table["apn_password"]["source"] == "default"
    assert table["profile"] == {"name": "profile", "secret": False, "value": "demo-ev", "source": "default",
                                "at": None}
    assert "s3cretpw" not in repr(table) and "changedpw9" not in repr(table)
    p.close()
    p = _start(tmp_path / "params.db", OLD_OWNER, caplog)   # a secret override is announced, never shown
    assert [r.getMessage() for r in caplog.records] == [
        "server_password: (a secret) set by server command 4 at 2027-01-15 08:01:40 UTC overrides default (empty) "
        "(until that changes)"]
    p.close()


def test_overrides_stored_by_an_older_version_keep_winning(tmp_path: Path,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    import sqlite3
    db = tmp_path / "params.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE params (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.execute("INSERT INTO params VALUES ('owner', ?)", (NEW_OWNER,))
    conn.commit()
    conn.close()
    p = _start(db, OLD_OWNER, caplog)
    assert p["owner"] == NEW_OWNER
    assert [r.getMessage() for r in caplog.records] == [
        f"owner: '{NEW_OWNER}' set by SMS or server (before provenance was kept) overrides flag --owner "
        f"'{OLD_OWNER}' (until that changes)"]
    p.close()


def test_preview_reads_what_a_start_would_use_and_creates_nothing(tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    state = tmp_path / "state"
    assert Params.preview({"owner": OLD_OWNER}, state / "params.db")["owner"] == OLD_OWNER
    assert not state.exists()
    p = _start(state / "params.db", OLD_OWNER, caplog)
    p.set("owner", NEW_OWNER, source="SMS REGISTER")
    p.close()
    before = sorted(f.name for f in state.iterdir())
    assert Params.preview({"owner": OLD_OWNER}, state / "params.db")["owner"] == NEW_OWNER
    assert Params.preview({"owner": OTHER_OWNER}, state / "params.db")["owner"] == OTHER_OWNER
    assert sorted(f.name for f in state.iterdir()) == before
