"""`tcu doctor`: walk the installation as a person debugging a car install would, one step at a time,
each with a verdict and a concrete remedy (issue 17).

    tcu doctor [--config /etc/tcu/tcu.toml] [flags as for tcu run] [--json] [--listen 3] [--wait 30]

Steps: config → serial port (exists, we may open it) → modem answers AT → SIM → registration and
signal → APN/data → server reachable and login accepted → CAN interface → CAN frames seen and decoded
→ power key → clock → free space → state databases. A step that cannot run because an earlier one
failed says so (`skip`). Exit status 0 when nothing failed (warnings allowed), 1 otherwise.

It uses the firmware's own AT driver and OVMS session on the real loop (the same code paths that
`tcu run` uses), each call bounded by a timeout that stops the loop. It needs the modem port to
itself: when the service is running (its status file in the state directory is fresh), the modem
steps say so instead of fighting it for the port. It never sends an SMS and never writes the
state directory.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from runtime import RealLoop, logsetup
from tcu.plural import plural

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
CLOCK_FLOOR = 1_735_689_600   # 2025-01-01: a Pi without RTC or network time boots in 1970 or its image's date


@dataclass(frozen=True)
class Step:
    name: str
    verdict: str          # ok | warn | fail | skip
    detail: str
    remedy: str = ""


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None, help="the unit's tcu.toml (default /etc/tcu/tcu.toml if present)")
    for flag in ("modem", "can", "profile", "server", "vehicle_id", "state_dir", "apn", "power_key"):
        p.add_argument("--" + flag.replace("_", "-"), dest=flag, default=None, help=f"override {flag}")
    p.add_argument("--server-password-file", dest="server_password_file", default=None, metavar="FILE",
                   help="read the server password from the first line of FILE (overrides the config's)")
    p.add_argument("--json", action="store_true", help="the steps as JSON")
    p.add_argument("--listen", type=float, default=3.0, metavar="SECONDS", help="how long to count CAN frames")
    p.add_argument("--wait", type=float, default=30.0, metavar="SECONDS",
                   help="how long to wait for network registration and the server")
    logsetup.add_args(p, default="CRITICAL")


class Doctor:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.steps: list[Step] = []
        self.loop = RealLoop()
        self.values: dict[str, Any] = {}
        self.modem: Any = None
        self.secrets: list[str] = []

    # -- helpers ------------------------------------------------------------------------------------
    def add(self, name: str, verdict: str, detail: str, remedy: str = "") -> bool:
        self.steps.append(Step(name, verdict, detail, remedy))
        return verdict in (OK, WARN)

    def skip(self, names: list[str], why: str) -> None:
        for n in names:
            self.add(n, SKIP, f"not checked: {why}")

    def call(self, start: Callable[[Callable[[Any], None]], object], timeout: float) -> Any:
        """Run one driver operation on the loop until its callback fires or `timeout` passes (None)."""
        box: list[Any] = []

        def done(result: Any) -> None:
            box.append(result)
            self.loop.stop()

        timer = self.loop.call_later(timeout, self.loop.stop)
        start(done)
        if not box:
            self.loop.run()
        timer.cancel()
        return box[0] if box else None

    def run_for(self, seconds: float, until: Callable[[], bool] = lambda: False) -> None:
        end = self.loop.time() + seconds

        def check() -> None:
            if until() or self.loop.time() >= end:
                self.loop.stop()
            else:
                self.loop.call_later(0.05, check)

        self.loop.call_soon(check)
        self.loop.run()

    # -- the walk -----------------------------------------------------------------------------------
    def run(self) -> list[Step]:
        if not self.config():
            self.skip(["serial port", "modem", "SIM", "network", "data", "server", "CAN interface",
                       "CAN frames", "power key"], "the config is not usable")
        else:
            self.modem_steps()
            self.can_steps()
            self.power_key()
        self.clock()
        self.storage()
        if self.modem is not None:
            self.modem.close()
        self.loop.close()
        return self.steps

    def config(self) -> bool:
        from tcu.config_cli import StartError, load_settings

        args = self.args
        if args.config is None and Path("/etc/tcu/tcu.toml").exists():
            args.config = "/etc/tcu/tcu.toml"
        try:
            self.values = load_settings(args)
            self.secrets = [str(v) for k in ("server_password", "module_password", "apn_password")
                            if len(v := str(self.values.get(k) or "")) >= 3]
        except StartError as e:
            return self.add("config", FAIL, str(e), "fix the named setting in tcu.toml (tcu run --print-example-config "
                            "shows every one)")
        missing = [k for k in ("modem", "can", "server", "vehicle_id", "server_password") if not self.values.get(k)]
        if missing:
            return self.add("config", FAIL, f"not set: {', '.join(missing)}",
                            f"set {', '.join(missing)} in {args.config or 'tcu.toml (--config)'} or as flags")
        return self.add("config", OK, f"{args.config or 'flags'}: modem {self.values['modem']}, can {self.values['can']}")

    def _running_unit(self) -> bool:
        from tcu.state_cli import gather

        state_dir = Path(str(self.values.get("state_dir") or "state"))
        if not state_dir.is_dir():
            return False
        _, report = gather(state_dir)
        return bool(report.get("running"))

    def modem_steps(self) -> None:
        from modem.driver.open import UnknownDialect, open_modem, parse_modem_spec

        later = ["modem", "SIM", "network", "data", "server"]
        spec = str(self.values["modem"])
        try:
            _, port = parse_modem_spec(spec)
        except UnknownDialect as e:
            self.add("serial port", FAIL, str(e), "modem = \"sim800:/dev/tcu-modem\" or \"sim7600:/dev/tcu-modem\"")
            return self.skip(later, "no usable modem setting")
        path = port.split("@", 1)[0]
        if "://" not in path:
            if not os.path.exists(path):
                self.add("serial port", FAIL, f"{path} does not exist",
                         "UART HAT: enable_uart=1 in config.txt and the serial console off (raspi-config → "
                         "Interface → Serial: login shell no, hardware yes); USB modem: plug it in and check "
                         "`ls -l /dev/ttyUSB* /dev/tcu-modem` (the udev rule from `tcu service install`)")
                return self.skip(later, "no serial port")
            if not os.access(path, os.R_OK | os.W_OK):
                st = os.stat(path)
                self.add("serial port", FAIL, f"{path}: no permission (mode {stat.S_IMODE(st.st_mode):o})",
                         "run as a member of the port's group: sudo usermod -aG dialout $USER (then log in again); "
                         "the service's user is in dialout already")
                return self.skip(later, "the port cannot be opened")
        if self._running_unit():
            self.add("serial port", WARN, f"{path}: the running unit holds it",
                     "stop the service for the modem checks: sudo systemctl stop tcu (then start it again)")
            return self.skip(later, "the running unit has the modem")
        try:
            self.modem = open_modem(self.loop, spec)
        except (OSError, ValueError) as e:    # serial.SerialException is an OSError
            self.add("serial port", FAIL, f"cannot open {path}: {e}", "check the device and that no other program "
                     "(ModemManager, a console getty) holds it: sudo systemctl disable --now ModemManager")
            return self.skip(later, "the port cannot be opened")
        self.add("serial port", OK, f"{path} opened")
        self._modem_walk()

    def _modem_walk(self) -> None:
        from modem.driver.script import Ok

        m = self.modem
        r = self.call(lambda cb: m.probe(cb, tries=5, interval=1.0), 10.0)
        if not isinstance(r, Ok):
            self.add("modem", FAIL, "no answer to AT",
                     "is the modem powered? press its power key (PWRKEY ~1 s; power_key = \"gpio:N\" lets the unit "
                     "do it); check the baud rate (115200), TX/RX crossed, the HAT's UART jumpers, and that the "
                     "serial console is off")
            return self.skip(["SIM", "network", "data", "server"], "the modem does not answer")
        r = self.call(m.init, 10.0)
        self.add("modem", OK if isinstance(r, Ok) else WARN, "answers AT" + ("" if isinstance(r, Ok) else
                 f"; initialisation failed ({getattr(r, 'reason', 'no answer')})"),
                 "" if isinstance(r, Ok) else "power-cycle the modem; if it persists, its firmware may differ")
        r = self.call(m.sim_status, 10.0)
        if not isinstance(r, Ok):
            self.add("SIM", FAIL, f"no SIM ({getattr(r, 'reason', 'no answer')})",
                     "insert the SIM (contacts down, notch as printed on the holder) with the power off; a "
                     "nano SIM needs an adapter in a micro holder")
            return self.skip(["network", "data", "server"], "no SIM")
        if r.value != "READY":
            self.add("SIM", FAIL, f"SIM asks for {r.value}",
                     "remove the PIN lock in a phone (Settings → SIM lock), then put the SIM back")
            return self.skip(["network", "data", "server"], "the SIM is locked")
        self.add("SIM", OK, "ready")
        if not self._network():
            return self.skip(["data", "server"], "not registered")
        if not self._data():
            return self.skip(["server"], "no data connection")
        self._server()

    def _network(self) -> bool:
        from modem.driver.script import Ok

        m = self.modem
        deadline = self.loop.time() + self.args.wait
        reg = None
        while True:
            r = self.call(m.registration, 10.0)
            reg = r.value if isinstance(r, Ok) else None
            if (reg is not None and reg.registered) or self.loop.time() >= deadline:
                break
            self.run_for(1.0)
        s = self.call(m.signal, 10.0)
        dbm = s.value.dbm if isinstance(s, Ok) else None
        signal = "unknown signal" if dbm is None else f"signal {dbm} dBm"
        if reg is None or not reg.registered:
            stat_text = {0: "not searching", 2: "searching", 3: "registration denied"}.get(
                reg.stat if reg is not None else -1, "no answer")
            remedy = ("registration denied: the SIM's plan or the network refuses it (roaming off? SIM "
                      "activated?)" if reg is not None and reg.stat == 3 else
                      "no network: check the antenna (the main/LTE connector, not GNSS), move to better coverage; "
                      "a 2G-only modem (SIM800) finds nothing where 2G was switched off: use a SIM7600")
            self.add("network", FAIL, f"not registered ({stat_text}, {signal}) after {self.args.wait:.0f} s", remedy)
            return False
        weak = dbm is not None and dbm < -100
        return self.add("network", WARN if weak else OK, f"registered ({'roaming' if reg.stat == 5 else 'home'}, "
                        f"{signal})", "weak signal: a better antenna or placement" if weak else "")

    def _data(self) -> bool:
        from modem.driver.script import Ok

        apn = str(self.values.get("apn") or "")
        r = self.call(lambda cb: self.modem.gprs_attach(apn, cb, user=str(self.values.get("apn_user") or ""),
                                                        password=str(self.values.get("apn_password") or "")), 90.0)
        if not isinstance(r, Ok):
            return self.add("data", FAIL, f"no data connection with APN {apn!r} ({getattr(r, 'reason', 'no answer')})",
                            "set apn (and apn_user/apn_password) in tcu.toml to your operator's data APN; check that "
                            "the SIM's plan includes data")
        return self.add("data", OK, f"data connection up (APN {apn!r})")

    def _server(self) -> None:
        from modem.driver.events import TcpClosed, TcpDataReceived
        from modem.driver.script import Ok
        from tcu.ovms.car_client import CarSession
        from tcu.server_link import split_server
        from tcu.server_session import LinkLost, LoggedIn, LoginFailed

        host, port = split_server(str(self.values["server"]))
        m = self.modem
        r = self.call(lambda cb: m.tcp_connect(host, port, cb), 60.0)
        if not isinstance(r, Ok):
            self.add("server", FAIL, f"{host}:{port} unreachable ({getattr(r, 'reason', 'no answer')})",
                     "check server = HOST:PORT in tcu.toml (OVMS v2 listens on 6867) and that the server runs; "
                     "some operators block ports other than 80/443")
            return
        session = CarSession(str(self.values["vehicle_id"]), str(self.values["server_password"]),
                             self.loop.random("doctor"), self.loop.time())
        outcome: list[object] = []

        def send(data: bytes) -> None:
            if data:
                m.tcp_send(data, lambda _r: None)

        def on_event(ev: object) -> None:
            if isinstance(ev, TcpDataReceived):
                send(session.receive_data(ev.data, self.loop.time()))
            elif isinstance(ev, TcpClosed):
                session.disconnected(ev.reason)
            outcome.extend(e for e in session.events() if isinstance(e, LoggedIn | LoginFailed | LinkLost))

        unsubscribe = m.subscribe(on_event)
        send(session.connect(self.loop.time()))
        self.run_for(self.args.wait, lambda: bool(outcome))
        unsubscribe()
        self.call(lambda cb: m.tcp_close(cb), 10.0)
        first = outcome[0] if outcome else None
        if isinstance(first, LoggedIn):
            self.add("server", OK, f"{host}:{port} reached, logged in as {self.values['vehicle_id']}")
        elif isinstance(first, LoginFailed | LinkLost):
            self.add("server", FAIL, f"{host}:{port} reached, login refused ({first.reason})",
                     f"the server does not accept vehicle {self.values['vehicle_id']!r} with this password: set "
                     "[server] password (or password_file) to the one registered at the server")
        else:
            self.add("server", FAIL, f"{host}:{port} reached, no answer to the login in {self.args.wait:.0f} s",
                     "is it an OVMS v2 server on that port? check server = HOST:PORT")

    def can_steps(self) -> None:
        spec = str(self.values["can"])
        kind, _, rest = spec.partition(":")
        target = rest.split("?", 1)[0]
        if kind == "socketcan":
            if not self._socketcan(target):
                return self.skip(["CAN frames"], "the CAN interface is not up")
        elif kind == "slcan" and not os.path.exists(target):
            self.add("CAN interface", FAIL, f"{target} does not exist", "plug the USB CAN adapter in (or start "
                     "`vcar serve`); check `ls -l /dev/ttyACM* /dev/ttyUSB*`")
            return self.skip(["CAN frames"], "no CAN adapter")
        elif kind != "socketcan":
            self.add("CAN interface", OK, f"{spec}")
        self._frames(spec)

    def _socketcan(self, iface: str) -> bool:
        net = Path("/sys/class/net") / iface
        if not net.exists():
            return self.add("CAN interface", FAIL, f"{iface} does not exist",
                            "MCP2515 HAT: add dtoverlay=mcp2515-can0,oscillator=16000000,interrupt=25 and "
                            "dtparam=spi=on to config.txt (the crystal printed on the HAT: 8, 12 or 16 MHz), reboot")
        try:
            out = subprocess.run(["ip", "-details", "-json", "link", "show", iface], capture_output=True,
                                 text=True, timeout=10).stdout
            info = json.loads(out)[0]
        except (OSError, subprocess.SubprocessError, ValueError, IndexError):
            info = {}
        up = "UP" in info.get("flags", []) or (net / "operstate").read_text().strip() == "up"
        can = info.get("linkinfo", {}).get("info_data", {})
        bitrate = can.get("bittiming", {}).get("bitrate")
        state = can.get("state", "?")
        detail = f"{iface} {'up' if up else 'down'}, bitrate {bitrate or '?'}, state {state}"
        if not up:
            return self.add("CAN interface", FAIL, detail, "sudo systemctl restart systemd-networkd (the .network "
                            "from `tcu service install` sets the bitrate), or: sudo ip link set "
                            f"{iface} up type can bitrate 500000 restart-ms 100")
        if state == "BUS-OFF":
            return self.add("CAN interface", FAIL, detail, "bus-off: wrong bitrate, CAN-H/CAN-L swapped or no "
                            "termination; check the wiring and the car's bitrate")
        return self.add("CAN interface", OK, detail)

    def _frames(self, spec: str) -> None:
        import can

        from can_bus.bus import BusOpenError, open_bus
        from can_bus.profile import ProfileError, load_profile

        try:
            port = open_bus(spec, self.loop)
        except (BusOpenError, can.CanError, OSError, ValueError) as e:
            self.add("CAN interface", FAIL, f"cannot open {spec}: {e}", "check the adapter and the can setting")
            return self.skip(["CAN frames"], "the bus cannot be opened")
        if not any(s.name == "CAN interface" for s in self.steps):
            self.add("CAN interface", OK, f"{spec} opened")
        try:
            decoder_ids = load_profile(str(self.values.get("profile") or "demo-ev")).decoder().ids
        except (ProfileError, OSError) as e:   # a broken profile is reported, frames are still counted
            decoder_ids = frozenset()
            self.add("profile", FAIL, f"{self.values.get('profile')}: {e}", "tcu profile check <name>")
        seen: list[int] = []
        errors: list[str] = []
        def on_frame(can_id: int, data: bytes, ts: float | None = None) -> None:
            seen.append(can_id)

        port.set_handler(on_frame, errors.append, lambda ev: None)
        self.run_for(self.args.listen)
        port.close()
        decoded = sum(1 for i in seen if i in decoder_ids)
        detail = f"{plural(len(seen), 'frame')} in {self.args.listen:.0f} s, {decoded} decoded by profile " \
                 f"{self.values.get('profile') or 'demo-ev'}, {plural(len(set(seen)), 'id')}"
        if not seen:
            self.add("CAN frames", FAIL, detail + (f"; errors: {errors[0]}" if errors else ""),
                     "no CAN traffic: is the ignition on (many cars' buses sleep when parked)? check CAN-H/CAN-L "
                     "(not swapped), ground, the bitrate (500000 or 250000 for most cars) and termination")
        elif not decoded:
            self.add("CAN frames", WARN, detail, "the profile decodes none of these ids: choose the profile for "
                     "this car (tcu profile new --dbc CAR.dbc)")
        else:
            self.add("CAN frames", OK, detail)

    def power_key(self) -> None:
        from tcu.config_cli import StartError, make_power_key

        spec = str(self.values.get("power_key") or "none")
        if spec == "none":
            self.add("power key", WARN, "no power key configured", "wire the modem's PWRKEY to a GPIO and set "
                     "power_key = \"gpio:4\": without it a hung modem cannot be power-cycled")
            return
        try:
            make_power_key(self.loop, spec)    # claims the pin (or asks the virtual modem); never pulses
        except StartError as e:
            self.add("power key", FAIL, str(e), "the service's user is in the gpio group; check the pin number")
            return
        self.add("power key", OK, f"{spec} usable")

    def clock(self) -> None:
        now = time.time()
        if now < CLOCK_FLOOR:
            self.add("clock", FAIL, time.strftime("clock says %Y-%m-%d %H:%M UTC", time.gmtime(now)),
                     "a Pi has no real-time clock: enable network time (sudo timedatectl set-ntp true) or fit an "
                     "RTC; alerts carry wrong times until then")
            return
        synced = ""
        if shutil.which("timedatectl"):
            try:
                synced = subprocess.run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"],
                                        capture_output=True, text=True, timeout=5).stdout.strip()
            except (OSError, subprocess.SubprocessError):
                synced = ""
        text = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(now))
        if synced == "no":
            self.add("clock", WARN, f"{text}, not synchronised", "sudo timedatectl set-ntp true")
        else:
            self.add("clock", OK, text + (", synchronised" if synced == "yes" else ""))

    def storage(self) -> None:
        state_dir = Path(str(self.values.get("state_dir") or "state"))
        where = state_dir if state_dir.exists() else state_dir.parent
        try:
            free = shutil.disk_usage(where).free
        except OSError as e:
            self.add("free space", FAIL, f"{where}: {e}", "check the state directory's file system")
            return
        mb = free / 1e6
        verdict = FAIL if mb < 50 else WARN if mb < 200 else OK
        self.add("free space", verdict, f"{mb:.0f} MB free at {where}",
                 "" if verdict == OK else "free space on the SD card (sudo journalctl --vacuum-size=50M, apt clean)")
        dbs = sorted(state_dir.glob("*.db")) if state_dir.is_dir() else []
        if not dbs:
            self.add("state databases", OK, f"none yet in {state_dir} (created at the first start)")
            return
        bad = []
        for db in dbs:
            try:
                conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
                try:
                    rows = [r[0] for r in conn.execute("PRAGMA quick_check")]
                finally:
                    conn.close()
            except sqlite3.Error as e:
                rows = [str(e)]
            if rows != ["ok"]:
                bad.append(f"{db.name}: {rows[0]}")
        if bad:
            self.add("state databases", FAIL, "; ".join(bad), "the unit renames a damaged database and salvages "
                     "its rows at its next start (sudo systemctl restart tcu); a failing SD card: replace it")
        else:
            self.add("state databases", OK, f"{len(dbs)} checked in {state_dir}: {', '.join(d.name for d in dbs)}")


def render(steps: list[Step]) -> str:
    mark = {OK: "ok  ", WARN: "WARN", FAIL: "FAIL", SKIP: "skip"}
    lines = []
    for s in steps:
        lines.append(f"[{mark[s.verdict]}] {s.name}: {s.detail}")
        if s.remedy and s.verdict in (WARN, FAIL):
            lines.append(f"       → {s.remedy}")
    failed = [s.name for s in steps if s.verdict == FAIL]
    lines.append("all checks passed" if not failed else f"{len(failed)} failed: {', '.join(failed)}")
    return "\n".join(lines)


def cmd_doctor(args: argparse.Namespace) -> int:
    logsetup.setup_logging(args.log_level, args.log_file)
    doctor = Doctor(args)
    steps = doctor.run()
    text = json.dumps([asdict(s) for s in steps], indent=2) if args.json else render(steps)
    for secret in doctor.secrets:      # a modem or server message might echo one back: never print it
        text = text.replace(secret, logsetup.REDACTED)
    print(text)
    return 1 if any(s.verdict == FAIL for s in steps) else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="tcu doctor")
    add_args(p)
    return cmd_doctor(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
