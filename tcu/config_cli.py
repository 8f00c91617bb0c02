"""`tcu run`: the unit on the real clock against real devices, configured by a TOML file and flags.

Every setting of the file can also be given as a flag (a flag wins over the file; a value changed at
run time by SMS or server command wins over both until the file/flag value for that setting changes,
see `tcu.params`: the newer change wins, and the start logs which side won). A missing or invalid setting
stops the unit at start with a message that names the setting, e.g.

    tcu run: server: required but not set (OVMS v2 server HOST[:PORT])

Passwords: a flag's value is visible to every user of the machine (`ps`, `/proc/<pid>/cmdline`), so
each password can also come from a file (`--server-password-file`, or `server_password_file` in the
config file) or the environment (`TCU_SERVER_PASSWORD`, `TCU_MODULE_PASSWORD`, `TCU_APN_PASSWORD`,
which only the unit's own user can read). The flags still work, with a warning.

The state directory is created 0700 with 0600 databases. One that cannot be used (read-only, full,
no permission) does not stop the unit: the car's only link runs on in-memory state, and the unit
says so (`state_dir: /x is read-only …` at start, in the health, to the owner).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from runtime import logsetup
from tcu.params import SPEC_BY_NAME

log = logging.getLogger(__name__)

EXAMPLE_CONFIG = """\
# tcu.toml — the unit's configuration (tcu run --config tcu.toml)
modem = "/dev/serial0"            # [DIALECT:]PORT: serial port, pyserial URL or vmodem pty; sim800 if bare
can = "socketcan:can0"            # CAN bus: socketcan:can0, slcan:/dev/pts/3, replay:file.log, ...
profile = "demo-ev"               # vehicle profile
state_dir = "/var/lib/tcu"        # SQLite: outbox, parameters, SMS log
power_key = "none"                # none | gpio:<pin> | virtual:<vmodem control socket>
owner = "+447700900123"           # owner's phone (E.164)
module_password = "change-me"     # for SMS commands from other numbers (chmod 600 this file, or
                                  # module_password_file = "/etc/tcu/module.pw": its first line)
vehicle_id = "MYCAR"
apn = "internet"

servers = "ovms"                  # what to report to: ovms | mqtt | both (two TCP links through the modem)
# mqtt_server = "192.168.1.10:1883" # the owner's MQTT broker (OVMS v3 topics, Home Assistant discovery)
# mqtt_username = "owner"           # and mqtt_password or mqtt_password_file; mqtt_prefix (default ovms/<user>/<id>/)

[server]
host = "127.0.0.1:6867"           # OVMS v2 server HOST[:PORT]
password = "server-password"      # or password_file = "/etc/tcu/server.pw"

[alert]
soc_low = 10
sms_per_day = 20
"""

# Flag → parameter name (tcu.params names).
FLAGS = {
    "modem": "modem", "can": "can", "profile": "profile", "server": "server", "vehicle_id": "vehicle_id",
    "server_password": "server_password", "owner": "owner", "module_password": "module_password",
    "state_dir": "state_dir", "apn": "apn", "apn_user": "apn_user", "apn_password": "apn_password",
    "tz_offset": "tz_offset", "country_code": "country_code", "power_key": "power_key",
    "servers": "servers", "mqtt_server": "mqtt_server", "mqtt_username": "mqtt_username",
    "mqtt_password": "mqtt_password", "mqtt_prefix": "mqtt_prefix",
}
REQUIRED = ("modem", "can", "server", "vehicle_id", "server_password", "mqtt_server", "owner")
# … of which each is needed only when that server is configured (`servers`)
REQUIRED_BY_SERVER = {"server": "ovms", "server_password": "ovms", "mqtt_server": "mqtt"}
# Secrets that may come from a file or the environment instead of a flag anyone can read in `ps`.
SECRET_SOURCES = {"server_password": "TCU_SERVER_PASSWORD", "module_password": "TCU_MODULE_PASSWORD",
                  "apn_password": "TCU_APN_PASSWORD", "mqtt_password": "TCU_MQTT_PASSWORD"}


class StartError(Exception):
    """A setting is missing or wrong: the message names it."""


RUN_DESCRIPTION = """\
Run the unit on the real clock against real devices. Settings come from the config file (--config),
the environment (passwords: $TCU_SERVER_PASSWORD, $TCU_MODULE_PASSWORD, $TCU_APN_PASSWORD,
$TCU_MQTT_PASSWORD) and the flags below; a flag beats the environment, which beats the file."""

RUN_EPILOG = """\
Settings changed by SMS or the server (REGISTER, PASS, SERVER, GPRS, server command 4) are kept in
STATE_DIR/params.db and the newer change wins: such a value beats the file, environment and flags
across restarts for as long as that setting's file/flag value stays what it was when the change was
made; once you change the file or flag for it, your new value wins and the stored one is dropped.
The start logs one INFO line for each setting where one side beats the other, and
`tcu state --state-dir STATE_DIR` shows every value with where it comes from.

A start that fails its checks (a missing or invalid setting, an unknown profile, a power key nobody
answers) stops with a message naming the setting and leaves nothing behind in STATE_DIR."""


def add_run_args(p: argparse.ArgumentParser) -> None:
    p.description, p.epilog = RUN_DESCRIPTION, RUN_EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter   # keep the paragraphs as written
    p.add_argument("--config", default=None, metavar="FILE", help="TOML configuration file")
    p.add_argument("--print-example-config", action="store_true", help="print an example tcu.toml and exit")
    for flag, name in FLAGS.items():
        help_text = SPEC_BY_NAME[name].help
        if name in SECRET_SOURCES:
            help_text += f" (visible to other users in ps: prefer --{flag.replace('_', '-')}-file or " \
                         f"${SECRET_SOURCES[name]})"
        p.add_argument("--" + flag.replace("_", "-"), dest=flag, default=None, help=help_text)
    for name, env in SECRET_SOURCES.items():
        p.add_argument("--" + name.replace("_", "-") + "-file", dest=name + "_file", default=None,
                       metavar="FILE", help=f"read {name} from the first line of FILE (or set ${env})")
    p.add_argument("--no-gnss", action="store_true", help="do not poll the modem's GNSS")
    p.add_argument("--console", action="store_true",
                   help="read SMS-style commands (STAT, LOCK, ...) from stdin, answers on stdout")
    logsetup.add_args(p)


def load_settings(args: argparse.Namespace, origins: dict[str, str] | None = None) -> dict[str, Any]:
    """Config file (validated by `tcu.params.load_toml`), then the environment's passwords, then the
    flags (a password flag or its `-file` twin). Raises StartError.

    `origins`, if given, is filled with where each value came from (`config file`, `flag --owner`,
    `environment $TCU_MODULE_PASSWORD`, `file --server-password-file`), for `tcu state` and the log."""
    from tcu.params import ConfigError, load_toml, read_secret_file

    origin: dict[str, str] = {} if origins is None else origins
    try:
        values: dict[str, Any] = dict(load_toml(args.config)) if args.config else {}
        origin.update((name, "config file") for name in values)
        for name, env in SECRET_SOURCES.items():
            if os.environ.get(env):
                values[name] = os.environ[env]
                origin[name] = f"environment ${env}"
            path = getattr(args, name + "_file", None)
            if path is not None:
                if getattr(args, name, None) is not None:
                    raise ConfigError(f"{name}: give --{name.replace('_', '-')} or its -file, not both")
                values[name] = read_secret_file(name + "_file", path)
                origin[name] = f"file --{name.replace('_', '-')}-file"
    except ConfigError as e:
        raise StartError(str(e)) from None
    for flag, name in FLAGS.items():
        v = getattr(args, flag, None)
        if v is not None:
            values[name] = v
            origin[name] = f"flag --{flag.replace('_', '-')}"
    return values


def warn_secret_flags(args: argparse.Namespace) -> None:
    """Password flags work, but every user of the machine can read them: say so (once the settings are valid)."""
    for name, env in SECRET_SOURCES.items():
        if getattr(args, name, None) is not None:
            flag = "--" + name.replace("_", "-")
            print(f"tcu run: warning: {flag} is visible to every user of this machine (ps, /proc/<pid>/cmdline); "
                  f"use {flag}-file FILE or ${env}", file=sys.stderr)


def make_power_key(loop: Any, spec: str) -> Any:
    kind, _, target = spec.partition(":")
    if kind == "none" and not target:
        return None
    if kind == "virtual" and target:
        from modem.control_client import ControlClient, ControlError
        from modem.driver.power import VirtualPowerKey
        client = ControlClient(target, timeout=2.0)
        # Checked now, not at the first brown-out: a key that cannot be pressed makes a modem that
        # powered down unrecoverable (issue 12 item 10).
        try:
            client.status()
        except (OSError, ControlError) as e:
            raise StartError(f"power_key: no virtual modem answers on the control socket {target!r} ({e}); "
                             f"start `vmodem serve --control {target}` first, or use power_key = \"none\"") from None
        return VirtualPowerKey(loop, client)
    if kind == "gpio" and target:
        from modem.driver.power import GpioPowerKey
        try:
            return GpioPowerKey(loop, int(target) if target.isascii() and target.isdigit() else target)
        except Exception as e:  # gpiozero missing or no GPIO on this machine
            raise StartError(f"power_key: cannot use {spec!r}: {e}") from None
    raise StartError(f"power_key: expected none, gpio:<pin> or virtual:<socket path>, got {spec!r}")


def build(args: argparse.Namespace, loop: Any) -> Any:
    """Validate everything and open the devices; returns the started-to-be Unit. Raises StartError.

    Validate first, create later: every check runs against the settings and what the state directory
    already holds (read without writing), so a start that fails leaves no `params.db` or state
    directory behind; the databases are opened only once every check has passed."""
    from tcu.params import ConfigError, Params

    origins: dict[str, str] = {}
    values = load_settings(args, origins)
    state_dir = Path(str(values.get("state_dir") or "state"))
    try:
        # what the unit will run with: file, environment, flags and the changes SMS/server made
        # (read-only: nothing is created while the settings may still be refused)
        preview = Params.preview(values, state_dir / "params.db", origins=origins)
        servers = str(preview["servers"]).split(",")
        preview.require(n for n in REQUIRED if REQUIRED_BY_SERVER.get(n, servers[0]) in servers)
    except ConfigError as e:
        raise StartError(str(e)) from None
    for secret in preview.secrets():
        logsetup.register_secret(secret)
    try:
        from can_bus.profile import load_profile
        profile = load_profile(str(preview["profile"]))
    except Exception as e:
        raise StartError(f"profile: {e}") from None
    power_key = make_power_key(loop, str(preview["power_key"]))
    from modem.driver.open import UnknownDialect, open_modem
    try:
        # a port that is not there yet is waited for (health 'modem' says so); a bad spec stops here
        modem = open_modem(loop, str(preview["modem"]), power_key=power_key, wait_for_device=True,
                           mux=str(preview["modem_mux"]))
    except UnknownDialect as e:
        raise StartError(f"modem: {e}") from None
    except Exception as e:
        raise StartError(f"modem: cannot open {preview['modem']}: {e}") from None
    from can_bus.bus import open_bus
    try:
        # an adapter that is not there yet is waited for (health 'can' says so); a bad spec stops here
        can_port = open_bus(str(preview["can"]), loop, wait_for_device=True)
    except Exception as e:
        raise StartError(f"can: cannot open {preview['can']}: {e}") from None
    # Every check passed: now the state directory. Never refuse to start the car's only link over it
    # (tcu.unit_storage).
    params = Params.open(values, state_dir / "params.db", time.time(), origins=origins)
    if params.store_fault is not None:
        print(f"tcu run: {params.store_fault}: running on in-memory state (queued alerts and settings "
              "changed by SMS are lost at a restart); the unit reports it to the owner", file=sys.stderr)
    for secret in params.secrets():
        logsetup.register_secret(secret)
    from tcu.unit import Unit

    warn_secret_flags(args)
    from tcu.status_file import CHECK_EVERY
    return Unit(loop, params, modem, can_port, state_dir, profile=profile, gnss=not args.no_gnss,
                status_every=CHECK_EVERY)


def attach_console(loop: Any, unit: Any, inp: Any, out: Any) -> None:
    """The local console: the SMS command set on stdin (trusted, like the server's command 7).

    A terminal or a pipe is watched by the loop. A regular file or /dev/null cannot be (epoll refuses
    them, and `tcu run --console < cmds.txt` used to crash with a traceback): it is read to its end,
    a chunk per loop turn, and each line run like a typed one."""
    import os

    fd = inp.fileno()
    buf = bytearray()
    watched = True

    def readable() -> None:
        data = os.read(fd, 4096)
        if not data:
            if watched:
                loop.remove_reader(fd)
            run_lines(final=True)
            log.info("console: end of input")
            return
        buf.extend(data)
        run_lines()
        if not watched:
            loop.call_soon(readable)

    def run_lines(final: bool = False) -> None:
        if final and buf and not buf.endswith(b"\n"):
            buf.extend(b"\n")
        while b"\n" in buf:
            line, _, rest = bytes(buf).partition(b"\n")
            buf[:] = rest
            text = line.decode(errors="replace").strip()
            if text:
                unit.interpreter.handle(text, None, "console", loop.time(),
                                        lambda reply: print(reply, file=out, flush=True))

    try:
        loop.add_reader(fd, readable)
    except PermissionError:          # EPERM: a regular file or /dev/null, which is always "ready"
        loop.remove_reader(fd)       # forget the half-made registration
        watched = False
        loop.call_soon(readable)


def cmd_run(args: argparse.Namespace) -> int:
    if args.print_example_config:
        print(EXAMPLE_CONFIG, end="")
        return 0
    logsetup.setup_logging(args.log_level, args.log_file)
    from runtime import RealLoop

    loop = RealLoop()
    try:
        unit = build(args, loop)
    except StartError as e:
        print(f"tcu run: {e}", file=sys.stderr)
        return 2

    def stop(signum: int, frame: object) -> None:
        log.info("signal %d: stopping", signum)
        loop.call_soon_threadsafe(loop.stop)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    unit.start()
    if args.console:
        attach_console(loop, unit, sys.stdin, sys.stdout)
    log.info("unit started (vehicle %s, profile %s)", unit.params["vehicle_id"], unit.profile.name)
    from tcu import sd_notify  # under systemd: READY, STATUS, WATCHDOG, STOPPING (issue 17)
    service = sd_notify.attach(loop, unit)
    loop.run()
    if service is not None:
        service.stop()
    unit.stop()
    return 0
