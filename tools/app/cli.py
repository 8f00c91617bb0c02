"""`tcu-app`: a command-line OVMS v2 app client for people and for tests.

    tcu-app --server 127.0.0.1:6867 --vehicle TESTCAR --password PW status
    tcu-app ... lock 1234 | unlock 1234 | charge start|stop | cmd 7 "STAT" | watch --seconds 60

Exit codes: 0 ok; 1 the car answered "failed"/"unsupported"; 2 usage; 3 login or connection failed;
4 the car is offline or did not answer in time.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from ovms_v2 import messages as m
from runtime import RealLoop, logsetup
from runtime.logsetup import register_secret, setup_logging

from .client import AppClient
from .render import describe_message, describe_reply, describe_status_report

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_LOGIN, EXIT_OFFLINE = 0, 1, 2, 3, 4


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tcu-app", description="OVMS v2 app client.")
    logsetup.add_command_args(p, "WARNING")
    p.add_argument("--server", default="127.0.0.1:6867", help="HOST:PORT (default 127.0.0.1:6867)")
    p.add_argument("--vehicle", required=True, help="vehicle id")
    p.add_argument("--password", default=os.environ.get("TCU_APP_PASSWORD"),
                   help="car (server) password; or set TCU_APP_PASSWORD")
    p.add_argument("--timeout", type=float, default=20.0, help="seconds to wait for the server/car")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND",
                           help="what to do (COMMAND --help for more)")
    st = sub.add_parser("status", help="the car's last status, environment and location")
    st.add_argument("--fresh", type=float, default=3.0, metavar="S",
                    help="if the car is online, wait up to S seconds for the fresh report it sends when an "
                         "app appears (default 3; 0 = show what the server stored)")
    sub.add_parser("lock", help="lock the car").add_argument("pin", help="the car's PIN")
    sub.add_parser("unlock", help="unlock the car").add_argument("pin", help="the car's PIN")
    sub.add_parser("charge", help="start or stop charging").add_argument(
        "action", choices=["start", "stop"], help="start or stop")
    c = sub.add_parser("cmd", help="any command number with parameters")
    c.add_argument("number", type=int, help="OVMS v2 command number (7 = SMS command text, 20 = lock, …)")
    c.add_argument("params", nargs="*", help="parameters (joined with commas)")
    w = sub.add_parser("watch", help="follow live updates and alerts")
    w.add_argument("--count", type=int, default=None, help="stop after N messages")
    w.add_argument("--seconds", type=float, default=None, help="stop after S seconds")
    return p


def _ascii_field(what: str, text: str) -> str:
    """Why: the OVMS v2 protocol carries printable ASCII lines only (spec §1); anything else would be
    refused deep inside the connection, long after the user typed it. Say so at once instead."""
    if not text.isascii() or not text.isprintable():
        raise ValueError(f"{what} must be printable ASCII (the OVMS v2 protocol carries nothing else): {text!r}")
    return text


def _command_args(args: argparse.Namespace) -> tuple[int, str]:
    """The command number and its comma-joined parameters, checked for what the protocol can carry."""
    if args.command == "lock":
        return m.CMD_LOCK, _ascii_field("the PIN", args.pin)
    if args.command == "unlock":
        return m.CMD_UNLOCK, _ascii_field("the PIN", args.pin)
    if args.command == "charge":
        return (m.CMD_CHARGE_START if args.action == "start" else m.CMD_CHARGE_STOP), ""
    return args.number, _ascii_field("the command parameters", ",".join(args.params))


def _split_server(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"--server must be HOST:PORT, not {text!r}")
    return host, int(port)


class _Run:
    """Drives one AppClient on a RealLoop until `done` is set or the deadline passes."""

    def __init__(self, loop: RealLoop, client: AppClient, timeout: float | None,
                 timeout_code: int = EXIT_OFFLINE) -> None:
        self.loop = loop
        self.client = client
        self.code: int | None = None
        self.message = ""
        self.timeout_code = timeout_code
        if timeout is not None:
            loop.call_later(timeout, self._timeout)

    def finish(self, code: int, message: str = "") -> None:
        if self.code is None:
            self.code, self.message = code, message
            self.loop.stop()

    def _timeout(self) -> None:
        self.finish(self.timeout_code, "timed out")


def main(argv: list[str] | None = None) -> int:
    args = logsetup.parse_args(_parser(), argv)
    setup_logging(args.log_level, args.log_file)
    if not args.password:
        print("tcu-app: --password (or TCU_APP_PASSWORD) is required", file=sys.stderr)
        return EXIT_USAGE
    register_secret(args.password)
    try:
        host, port = _split_server(args.server)
        vid = _ascii_field("the vehicle id", args.vehicle).upper()
        if not vid or " " in vid:
            raise ValueError(f"the vehicle id must be non-empty and without spaces: {args.vehicle!r}")
        cmd, params = _command_args(args) if args.command in ("lock", "unlock", "charge", "cmd") else (0, "")
    except ValueError as exc:
        print(f"tcu-app: {exc}", file=sys.stderr)
        return EXIT_USAGE

    loop = RealLoop()
    run_box: list[_Run] = []
    on_ready: Callable[[], None]
    on_msg: Callable[[m.Message], None] = lambda msg: None  # noqa: E731

    def state_changed(client: AppClient) -> None:
        run = run_box[0]
        if client.state == "failed":
            run.finish(EXIT_LOGIN, client.error or "login failed")
        elif client.state == "closed":
            run.finish(EXIT_LOGIN if run.code is None and args.command != "watch" else EXIT_OK,
                       client.error or "server closed the connection")

    def message(client: AppClient, msg: m.Message) -> None:
        if isinstance(msg, m.Peers) and not ready_seen:
            ready_seen.append(True)
            on_ready()
        on_msg(msg)

    ready_seen: list[bool] = []
    client = AppClient(loop, host, port, args.vehicle, args.password, on_message=message, on_state=state_changed)
    if args.command == "watch":
        run = _Run(loop, client, args.seconds, EXIT_OK)
    else:
        run = _Run(loop, client, args.timeout)
    run_box.append(run)

    if args.command == "status":
        phase = {"replayed": False, "finishing": False}

        def finish_soon(delay: float) -> None:
            if not phase["finishing"]:
                phase["finishing"] = True
                loop.call_later(delay, lambda: run.finish(EXIT_OK))

        def replay_done() -> None:
            # What the server stored may predate the car's CAN data; an online car reports afresh
            # when an app appears (the server relays it followed by T0), so wait a moment for that.
            if phase["replayed"]:
                return
            phase["replayed"] = True
            if client.car_connected and args.fresh > 0:
                loop.call_later(args.fresh, lambda: run.finish(EXIT_OK))
            else:
                run.finish(EXIT_OK)

        def ready() -> None:
            # The server replays stored messages and ends with T; with nothing stored there is no T.
            loop.call_later(1.0, replay_done)

        def status_msg(msg: m.Message) -> None:
            if isinstance(msg, m.Time):
                if not phase["replayed"]:
                    replay_done()
                elif msg.seconds == 0:
                    finish_soon(0.5)  # the rest of the car's burst (D, L) follows within moments
        on_ready, on_msg = ready, status_msg
    elif args.command == "watch":
        seen = [0]

        def ready() -> None:
            print(f"watching {vid} (car {'connected' if client.car_connected else 'not connected'})", flush=True)

        def watch_msg(msg: m.Message) -> None:
            print(describe_message(msg), flush=True)
            seen[0] += 1
            if args.count is not None and seen[0] >= args.count:
                run.finish(EXIT_OK)
        on_ready, on_msg = ready, watch_msg
    else:
        replies: list[m.CommandReply] = []

        # Commands 30-32 are answered by the server itself (spec §4): they need no car.
        needs_car = cmd not in (m.CMD_SERVER_GPRS, m.CMD_SERVER_HISTORY_SUMMARY, m.CMD_SERVER_HISTORY)

        def ready() -> None:
            if not client.car_connected and needs_car:
                run.finish(EXIT_OFFLINE, f"car {vid} is not connected to the server; command not sent")
                return
            client.command(cmd, params)

        def cmd_msg(msg: m.Message) -> None:
            if isinstance(msg, m.CommandReply) and msg.cmd == cmd:
                replies.append(msg)
                print(describe_reply(msg), flush=True)
                if msg.is_final:
                    run.finish(EXIT_OK if msg.result == m.RESULT_OK else EXIT_FAILED)
            elif isinstance(msg, m.Peers) and msg.count == 0 and needs_car:
                run.finish(EXIT_OFFLINE, f"car {vid} disconnected before answering")
        on_ready, on_msg = ready, cmd_msg

    client.connect()
    try:
        loop.run()
    except KeyboardInterrupt:
        run.finish(EXIT_OK)
    finally:
        client.close()
        loop.close()

    code = EXIT_OFFLINE if run.code is None else run.code
    if args.command == "status" and code == EXIT_OK:
        print(describe_status_report(vid, client.last, client.car_connected, client.seconds_since_update))
    elif code == EXIT_OFFLINE and run.message == "timed out":
        what = "the server" if client.state != "open" else f"car {vid}"
        print(f"tcu-app: no answer from {what} within {args.timeout:.0f} s (car offline or busy?)",
              file=sys.stderr)
    elif code not in (EXIT_OK, EXIT_FAILED):
        print(f"tcu-app: {run.message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
