"""The SMS command interface: every command, both ways of authenticating, exact matching, lockout,
secrets never in replies or logs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcu.auth import Guard, number_matches, password_matches
from tcu.metrics import Metrics
from tcu.params import Params
from tcu.reply_budget import ReplyBudget, ReplyBudgetSettings
from tcu.sms_commands import (
    UNKNOWN,
    CommandInterpreter,
    ModemStatus,
    fit_sms,
    link_status_text,
    redact_command,
)
from tcu.sms_log import SmsLog
from tcu.sqlite_store import open_db

OWNER = "+447700900123"
STRANGER = "+447700900999"
MODPW = "modpass1"
NETPW = "netpass99"
T0 = 1_700_000_000.0


class FakeUnit:
    """A CommandContext for tests: records car commands and lets the test answer them."""

    version = "0.1.0"

    def __init__(self, params: Params) -> None:
        self.m = Metrics()
        self.metrics = self.m.view
        self.params = params
        self.car_calls: list[tuple[str, dict]] = []
        self._pending: list[Callable[[bool, str], None]] = []
        self.restarted: list[str] = []
        self.notes: list[str] = []
        self.online = True

    def link_status(self, now: float) -> str:
        return "Server: online" if self.online else "Server: offline since 14:02, 3 queued"

    def modem_status(self) -> ModemStatus:
        return ModemStatus(True, -71.0, "Vodafone UK", "online")

    def queued_count(self) -> int:
        return 3

    def uptime(self, now: float) -> float:
        return 93_784.0

    def reset_reason(self) -> str:
        return "power-on"

    def health_summary(self, now: float) -> str:
        return "OK"

    def wall(self, now: float) -> float:
        return now

    def car_command(self, name: str, on_result: Callable[[bool, str], None], **args: object) -> None:
        self.car_calls.append((name, args))
        self._pending.append(on_result)

    def answer(self, ok: bool = True, detail: str = "") -> None:
        self._pending.pop(0)(ok, detail)

    def restart(self, reason: str) -> None:
        self.restarted.append(reason)

    def notify(self, text: str) -> None:
        self.notes.append(text)


class Rig:
    def __init__(self, tmp_path: Path | None, **config: object) -> None:
        cfg = {"owner": OWNER, "module_password": MODPW, "server": "srv.example:6867",
               "server_password": NETPW, "vehicle_id": "DEMO1", "tz_offset": 60, **config}
        db = open_db(":memory:")  # persistence is tested with params and the outbox; keep these fast
        self.params = Params(cfg, db)
        self.unit = FakeUnit(self.params)
        self.log = SmsLog(db)
        # the reply budget has its own tests; here it must not get in the way of a hundred commands
        unlimited = ReplyBudget(ReplyBudgetSettings(10**6, 10**6, 10**6))
        self.interp = CommandInterpreter(self.unit, self.log, budget=unlimited)
        self.now = T0
        self.replies: list[str] = []

    def sms(self, text: str, sender: str = OWNER) -> list[str]:
        before = len(self.replies)
        self.last = self.interp.handle(text, sender, "sms", self.now, self.replies.append)
        return self.replies[before:]


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    r = Rig(tmp_path)
    r.unit.m.apply([("v.b.soc", 64.0), ("v.b.range.est", 180.0), ("v.c.pilot", True), ("v.e.locked", True),
                    ("v.b.12v.voltage", 12.62), ("v.p.odometer", 12345.6), ("v.c.charging", True),
                    ("v.c.state", "charging"), ("v.c.mode", "standard"), ("v.c.voltage", 230.0),
                    ("v.c.current", 16.0), ("v.p.latitude", 51.50101), ("v.p.longitude", -0.14159),
                    ("v.p.gpslock", True), ("v.p.satcount", 8), ("v.p.gpshdop", 0.9),
                    ("v.vin", "WVWZZZ1KZAW000001")], T0 - 12)
    return r


def test_help_and_case_and_question_mark(rig: Rig) -> None:
    (r,) = rig.sms("help")
    assert r.startswith("Commands: STAT GPS LOCK") and len(r) <= 160
    assert rig.sms("stat?") == rig.sms("STAT") == rig.sms("Stat ?")


def test_stat(rig: Rig) -> None:
    (r,) = rig.sms("STAT")
    assert r == ("Charging 230V/16A, Standard\nSOC: 64%\nRange: 180 km\nPlugged in: yes\n"
                 "Locked: yes\n12V: 12.6V\nODO: 12346 km\nServer: online")
    rig.unit.online = False
    rig.now += 3600
    (r,) = rig.sms("STAT")
    assert "SOC: 64%*" in r and r.endswith("Server: offline since 14:02, 3 queued\n* = stale")
    assert len(r) <= 160


def test_gps_and_locate(rig: Rig) -> None:
    (r,) = rig.sms("GPS")
    assert r == ("Car location: https://maps.google.com/maps?q=51.50101,-0.14159\n"
                 "GPS fix, 8 sats, HDOP 0.9\nAge: 12 s")
    assert rig.sms("locate?") == [r]


def test_gps_unknown(tmp_path: Path) -> None:
    r = Rig(tmp_path)
    assert r.sms("GPS") == ["Car location unknown (no GPS position yet)"]


@pytest.mark.parametrize("text, car, ok, fail", [
    ("LOCK", ("lock", {}), "Locked", "Lock failed: door open"),
    ("UNLOCK 1234", ("unlock", {}), "Unlocked", "Unlock failed: door open"),
    ("VALET", ("valet_on", {}), "Valet mode on", "Valet mode failed: door open"),
    ("UNVALET", ("valet_off", {}), "Valet mode off", "Valet mode cancel failed: door open"),
    ("CHARGE START", ("charge_start", {}), "Charging started", "Charge start failed: door open"),
    ("chargestop", ("charge_stop", {}), "Charging stopped", "Charge stop failed: door open"),
    ("CHARGESTART", ("charge_start", {}), "Charging started", "Charge start failed: door open"),
    ("Charge Stop", ("charge_stop", {}), "Charging stopped", "Charge stop failed: door open"),
    ("CLIMATE ON", ("climate_on", {}), "Climate on", "Climate on failed: door open"),
    ("climate off", ("climate_off", {}), "Climate off", "Climate off failed: door open"),
    ("HOMELINK 2", ("homelink", {"button": 2}), "Homelink 2 activated", "Homelink 2 failed: door open"),
    ("WAKEUP", ("wakeup", {}), "Car is awake", "Wake-up failed: door open"),
    ("CHARGEMODE range", ("charge_mode", {"mode": "range"}), "Charge mode: range",
     "Charge mode failed: door open"),
])
def test_car_commands_reply_with_the_cars_result(rig: Rig, text: str, car: tuple, ok: str, fail: str) -> None:
    assert rig.sms(text) == []  # nothing yet: the reply waits for the car
    assert rig.last.status == "deferred"
    assert rig.unit.car_calls == [car]
    rig.unit.answer(True)
    assert rig.replies[-1] == ok
    rig.sms(text)
    rig.unit.answer(False, "door open")
    assert rig.replies[-1] == fail


def test_chargemode_with_amps_chains_two_car_commands(rig: Rig) -> None:
    rig.sms("CHARGEMODE STORAGE 16")
    rig.unit.answer(True)
    assert rig.unit.car_calls == [("charge_mode", {"mode": "storage"}), ("charge_limit", {"amps": 16})]
    assert rig.replies == []
    rig.unit.answer(True)
    assert rig.replies == ["Charge mode: storage, 16A"]


@pytest.mark.parametrize("text, reply", [
    ("CHARGEMODE FAST", "Usage: CHARGEMODE <STANDARD|STORAGE|RANGE|PERFORMANCE> [amps]"),
    ("CHARGEMODE STANDARD lots", "Usage: CHARGEMODE <STANDARD|STORAGE|RANGE|PERFORMANCE> [amps]"),
    ("HOMELINK 4", "Usage: HOMELINK <1-3>"),
    ("HOMELINK", "Usage: HOMELINK <1-3>"),
    ("LOCK abc", "Usage: LOCK [pin]"),
    ("WAKEUP now", "Usage: WAKEUP"),
    ("PASS", "Usage: PASS <new password>"),
    ("PASS ab", "PASS: expected at least 4 characters and no spaces"),
    ("SERVER", "Usage: SERVER <host[:port]> [<password>]"),
    ("SERVER a:b:c", "SERVER: expected HOST[:PORT], got 'a:b:c'"),
    ("GPRS", "Usage: GPRS <apn> [<user> [<password>]]"),
])
def test_usage_errors(rig: Rig, text: str, reply: str) -> None:
    assert rig.sms(text) == [reply]
    assert rig.unit.car_calls == []


def test_register_and_query(rig: Rig) -> None:
    new = "+447700900555"
    # a national number cannot become the owner until the country code is known
    assert rig.sms(f"REGISTER {MODPW}", sender="07700 900555") == ["REGISTER: your number cannot be used as the owner's"]
    rig.params.set("country_code", "44")
    assert rig.sms(f"REGISTER {MODPW}", sender="07700 900555") == ["Your phone has been registered as the owner."]
    assert rig.params["owner"] == new
    assert rig.sms("REGISTER?", sender=new) == [f"Registered number: {new}"]
    assert rig.sms("STAT", sender=new)[0].startswith("Charging")
    assert rig.sms("STAT", sender=OWNER) == ["Permission denied"]  # the old owner is no longer the owner


DENIED_ = "Permission denied"


def test_bare_register_from_the_owner_confirms(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    """The README lists bare `REGISTER`; the owner needs no password (sms-commands.md): it registers
    the sender again, changing nothing, and says so. From anyone else it is a failed attempt."""
    with caplog.at_level(logging.INFO, logger="tcu.params"):
        assert rig.sms("REGISTER") == ["Your phone is registered as the owner."]
        assert rig.sms("register?") == [f"Registered number: {OWNER}"]
    assert rig.params["owner"] == OWNER and rig.last.status == "ok"
    assert "changed by" not in caplog.text       # nothing written: the owner keeps its origin
    assert rig.sms("REGISTER", sender=STRANGER) == [DENIED_]
    assert rig.params["owner"] == OWNER


def test_register_needs_the_exact_password(rig: Rig) -> None:
    for attempt in ("REGISTER", f"REGISTER {MODPW}X", f"REGISTER {MODPW[:-1]}", f"REGISTER {MODPW} extra",
                    f"REGISTER {MODPW.upper()}"):
        rig.sms(attempt, sender=STRANGER)
        rig.now += 3601  # fresh hour: each refusal gets a reply
        assert rig.replies[-1] == DENIED_, attempt
    assert rig.params["owner"] == OWNER


def test_pass_owner_only(rig: Rig) -> None:
    assert rig.sms(f"PASS {MODPW} newpass2", sender=STRANGER) == ["PASS: only the owner's phone may do this"]
    assert rig.sms("PASS newpass2") == ["Module password has been changed."]
    assert rig.params["module_password"] == "newpass2"
    assert rig.sms(f"STAT {MODPW}", sender=STRANGER) == [DENIED_]
    assert rig.sms("STAT newpass2", sender=STRANGER)[0].startswith("Charging")


def test_server_and_gprs(rig: Rig) -> None:
    (r,) = rig.sms("SERVER?")
    assert r == "Server: srv.example:6867\nPassword: set\nServer: online"
    (r,) = rig.sms("SERVER new.example:7000 secretnew")
    assert r == "Server: new.example:7000\nPassword: set\nServer: online"
    assert rig.params["server_password"] == "secretnew"
    (r,) = rig.sms("GPRS internet web apnpw1")
    assert r == ("APN: internet\nUser: web\nPassword: set\nGSM: registered, Vodafone UK, -71 dBm\n"
                 "Server: online")
    rig.sms("GPRS internet - -")
    assert rig.params["apn_user"] == "" and rig.params["apn_password"] == ""
    assert rig.sms("GPRS?")[0].startswith("APN: internet\nUser: -\nPassword: not set")


def test_params_diag_version(rig: Rig) -> None:
    (r,) = rig.sms("PARAMS?")
    assert r.startswith("Params:\nowner=+447700900123\nserver=srv.example:6867")
    assert "vehicle_id=DEMO1" in r and "password" not in r
    (r,) = rig.sms("DIAG")
    assert r == ("DIAG:\nModem: online\nGSM: registered, Vodafone UK, -71 dBm\nServer: online\nQueued: 3\n"
                 "Uptime: 1d 02:03\nLast reset: power-on\nHealth: OK\n12V: 12.6V")
    assert rig.sms("VERSION") == ["tcu-sim 0.1.0\nProfile: demo-ev\nVIN: WVWZZZ1KZAW000001"]


def test_reset_replies_first_then_restarts(rig: Rig) -> None:
    order: list[str] = []
    rig.unit.restart = lambda reason: order.append("restart:" + reason)  # type: ignore[method-assign]
    rig.interp.handle("RESET", OWNER, "sms", rig.now, lambda t: order.append("reply:" + t))
    assert order == ["reply:Restarting the unit", f"restart:RESET by sms {OWNER}"]


def test_unknown_from_owner_and_from_others(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    assert rig.sms("FROBNICATE") == [UNKNOWN]
    assert rig.sms("CHARGE MAYBE") == [UNKNOWN]
    assert rig.sms("") == [UNKNOWN]
    with caplog.at_level(logging.INFO):
        assert rig.sms("hello there", sender=STRANGER) == []
    assert rig.last.status == "ignored"
    assert "ignored" in caplog.text
    assert rig.log.recent(1)[0].note == "ignored: not a command"


def test_operator_sms_kept_and_notified(rig: Rig) -> None:
    assert rig.sms("Your balance is 5.00 GBP", sender="Vodafone") == []
    assert rig.last.status == "operator"
    assert rig.unit.notes == ["SMS from Vodafone: Your balance is 5.00 GBP"]
    e = rig.log.recent(1)[0]
    assert (e.number, e.text, e.note) == ("Vodafone", "Your balance is 5.00 GBP", "operator")


def test_password_auth_for_strangers(rig: Rig) -> None:
    assert rig.sms(f"STAT {MODPW}", sender=STRANGER)[0].startswith("Charging")
    rig.sms(f"LOCK {MODPW} 1234", sender=STRANGER)
    assert rig.unit.car_calls == [("lock", {})]
    rig.sms(f"HOMELINK {MODPW} 1", sender=STRANGER)
    assert rig.unit.car_calls[-1] == ("homelink", {"button": 1})
    # the owner may give the password too; it is consumed, not taken as an argument
    rig.sms(f"HOMELINK {MODPW} 3")
    assert rig.unit.car_calls[-1] == ("homelink", {"button": 3})


@pytest.mark.parametrize("sender, text", [
    ("+4477", "STAT"),  # prefix of the owner's number
    ("+4477009001234", "STAT"),  # owner's number with a digit more
    ("+44770090012", "STAT"),
    (STRANGER, "STAT modpass1X"),  # password with a suffix
    (STRANGER, "STAT modpass"),  # prefix of the password
    (STRANGER, "STAT MODPASS1"),  # passwords are case-sensitive
    (STRANGER, "STAT"),
])
def test_exact_match_rules(rig: Rig, sender: str, text: str) -> None:
    assert rig.sms(text, sender=sender) == [DENIED_]
    assert rig.last.status == "denied"


def test_owner_number_normalised(rig: Rig) -> None:
    assert rig.sms("STAT", sender="0044 7700 900123")[0].startswith("Charging")
    assert rig.sms("STAT", sender="447700900123")[0].startswith("Charging")


def test_password_disabled_when_empty(tmp_path: Path) -> None:
    r = Rig(tmp_path, module_password="")
    assert r.sms("STAT ", sender=STRANGER) == [DENIED_]
    assert r.sms("REGISTER ", sender=STRANGER) == []  # second failure this hour: no reply


def test_lockout_timing(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        assert rig.sms("STAT guess1", sender=STRANGER) == [DENIED_]
        for n in range(2, 5):
            rig.now += 60
            assert rig.sms(f"STAT guess{n}", sender=STRANGER) == []  # once per hour only
            assert rig.last.status == "denied"
        rig.now += 60
        assert rig.sms("STAT guess5", sender=STRANGER) == []
        assert rig.last.status == "locked_out"
        # locked out: even the right password gets nothing, for an hour
        rig.now += 3599
        assert rig.sms(f"STAT {MODPW}", sender=STRANGER) == []
        assert rig.last.status == "locked_out"
    rig.now += 2
    assert rig.sms(f"STAT {MODPW}", sender=STRANGER)[0].startswith("Charging")
    # the owner was never affected, and other numbers have their own count
    assert rig.sms("STAT")[0].startswith("Charging")
    assert rig.sms("STAT", sender="+447700900888") == [DENIED_]
    assert "guess" not in caplog.text


def test_denied_reply_again_after_an_hour(rig: Rig) -> None:
    assert rig.sms("STAT", sender=STRANGER) == [DENIED_]
    rig.now += 1800
    assert rig.sms("STAT", sender=STRANGER) == []
    rig.now += 1800
    assert rig.sms("STAT", sender=STRANGER) == [DENIED_]


def test_secrets_never_in_replies_logs_or_sms_log(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    every = ["HELP", "STAT", "GPS", "REGISTER?", "SERVER?", "GPRS?", "PARAMS?", "DIAG", "VERSION",
             f"SERVER srv2.example {NETPW}", f"GPRS internet user {NETPW}x", f"STAT {MODPW}",
             f"REGISTER {MODPW}", "PASS newpass7", f"STAT {MODPW}", "STAT newpass7", "REGISTER newpass7x",
             "STAT newpass7y"]
    with caplog.at_level(logging.DEBUG):
        for text in every:
            rig.sms(text)
            rig.sms(text, sender=STRANGER)
            rig.interp.handle(text, None, "server", rig.now, rig.replies.append)
            rig.interp.handle(text, None, "console", rig.now, rig.replies.append)
    logged = "\n".join(f"{e.number} {e.text}" for e in rig.log.recent(1000))
    for secret in (MODPW, NETPW, NETPW + "x", "newpass7", "newpass7x", "newpass7y"):
        for where, text in (("replies", "\n".join(rig.replies)), ("log", caplog.text), ("sms_log", logged)):
            assert secret not in text, (secret, where)
    assert "***" in logged


def test_server_and_console_channels_are_trusted(rig: Rig) -> None:
    out: list[str] = []
    rig.interp.handle("STAT", None, "server", rig.now, out.append)
    rig.interp.handle("lock", None, "console", rig.now, out.append)
    rig.unit.answer(True)
    rig.interp.handle("REGISTER x", None, "console", rig.now, out.append)
    rig.interp.handle("nonsense", None, "server", rig.now, out.append)
    assert out[0].startswith("Charging") and out[1] == "Locked"
    assert out[2].startswith("REGISTER works only by SMS") and out[3] == UNKNOWN


def test_replies_fit_in_four_parts(rig: Rig) -> None:
    rig.params.set("vehicle_id", "V" * 32)
    for text in ("HELP", "STAT", "GPS", "PARAMS?", "DIAG", "GPRS?", "SERVER?", "VERSION"):
        for reply in rig.sms(text):
            assert len(reply) <= 4 * 153
    short = ["HELP", "STAT", "GPS", "SERVER?", "VERSION", "REGISTER?"]
    assert all(len(rig.sms(t)[0]) <= 160 for t in short)
    assert fit_sms("x" * 1000) == "x" * 609 + "..."
    assert fit_sms("ok") == "ok"


def test_redact_command() -> None:
    assert redact_command("SERVER host pw1234") == "SERVER host ***"
    assert redact_command("GPRS apn user pw") == "GPRS apn user ***"
    assert redact_command("register secret") == "register ***"
    assert redact_command("SERVER?") == "SERVER?"
    assert redact_command("STAT") == "STAT"


def test_auth_primitives() -> None:
    assert password_matches("abc1", "abc1")
    assert not password_matches("abc", "abc1") and not password_matches("abc12", "abc1")
    assert not password_matches("", "")
    assert number_matches("+447700900123", "+447700900123")
    assert number_matches("00447700900123", "+44 7700 900123")
    assert not number_matches("+4477", "+447700900123")
    assert not number_matches("+447700900123", "")
    g = Guard()
    assert g.failed("+1", "STAT", 0.0).reply
    assert not g.is_ignored("+1", 0.0)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=60), st.sampled_from([OWNER, STRANGER, "Vodafone", "", "+4477"]))
def test_never_raises_on_arbitrary_text(text: str, sender: str) -> None:
    r = RIG_CACHE.setdefault("r", Rig(None))
    r.interp.handle(text, sender, "sms", r.now, r.replies.append)
    for reply in r.replies:
        assert MODPW not in reply and NETPW not in reply


RIG_CACHE: dict[str, Rig] = {}


def test_link_status_text() -> None:
    assert link_status_text(True, None, 0, 0) == "Server: online"
    assert link_status_text(False, T0, 3, 60) == "Server: offline since 23:13, 3 queued"
    assert link_status_text(False, None, 0, 0) == "Server: offline, 0 queued"
