"""MqttSession against real MQTT software: Mosquitto on a loopback port (password file, no anonymous),
the session over a real TCP socket on the real loop, and mosquitto_sub / mosquitto_pub / paho-mqtt as
the independent ends that check what arrived."""

from __future__ import annotations

import getpass
import os
import random
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mqtt311 import packets as p
from runtime import RealLoop, Stream, Timer
from tcu.mqtt.session import MqttEvent, MqttSession, TextCommand
from tcu.server_session import Delivered, LinkLost, LoggedIn, LoginFailed

# /usr/sbin is not on every user's PATH
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
if not os.path.exists(MOSQUITTO) and not os.environ.get("CI"):
    pytest.skip("mosquitto is not installed (apt-get install mosquitto mosquitto-clients)",
                allow_module_level=True)

mqtt_client = pytest.importorskip("paho.mqtt.client")

USER, PASSWORD = "owner", "pa55-word"
PREFIX = f"ovms/{USER}/CAR1/"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Broker:
    """A Mosquitto with a config file we write: loopback listener, password file, no persistence."""

    def __init__(self, tmp: Path) -> None:
        self.port = _free_port()
        pwfile = tmp / "passwd"
        subprocess.run(["mosquitto_passwd", "-b", "-c", str(pwfile), USER, PASSWORD], check=True,
                       capture_output=True)
        pwfile.chmod(0o600)
        self.conf = tmp / "mosquitto.conf"
        # `user`: started as root, mosquitto would switch to the user `mosquitto`, who cannot read our
        # temporary directory; as anyone else the option is ignored.
        self.conf.write_text(f"user {getpass.getuser()}\nlistener {self.port} 127.0.0.1\nallow_anonymous false\n"
                             f"password_file {pwfile}\npersistence false\n")
        self.log = tmp / "mosquitto.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf), "-v"], stdout=log,
                                         stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)     # test harness only: waiting for an outside process to listen
        raise AssertionError(f"mosquitto did not listen: {self.log.read_text()[-2000:]}")

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path)
    b.start()
    try:
        yield b
    finally:
        b.kill()


class SessionLink:
    """A thin test adapter: the sans-IO session over a real TCP socket on RealLoop, reconnecting."""

    def __init__(self, loop: RealLoop, port: int, session: MqttSession, metrics: dict[str, object],
                 on_command: Callable[[SessionLink, TextCommand], None] | None = None) -> None:
        self.loop, self.port, self.session, self.metrics = loop, port, session, metrics
        self.on_command = on_command
        self.events: list[MqttEvent] = []
        self.written: list[bytearray] = []     # bytes written, one buffer per TCP connection
        self.stream: Stream | None = None
        self.reconnect = True
        self._timer: Timer | None = None

    def start(self) -> None:
        self.loop.connect_tcp("127.0.0.1", self.port, self._connected)

    def _connected(self, stream: Stream | None, err: str | None) -> None:
        if stream is None:
            if self.reconnect:
                self.loop.call_later(0.2, self.start)
            return
        self.stream = stream
        self.written.append(bytearray())
        stream.set_handlers(self._on_data, self._on_close)
        self.write(self.session.connect(self.loop.time()))
        self._after()

    def write(self, data: bytes) -> None:
        if self.stream is not None and data:
            self.written[-1] += data
            self.stream.write(data)

    def _on_data(self, data: bytes) -> None:
        self.write(self.session.receive_data(data, self.loop.time()))
        self._after()

    def _on_close(self) -> None:
        self.stream = None
        self.session.disconnected("broker closed the connection")
        self._after()
        if self.reconnect:
            self.loop.call_later(0.2, self.start)

    def _tick(self) -> None:
        self._timer = None
        self.write(self.session.tick(self.metrics, self.loop.time()))
        self._after()

    def tick(self, force: bool = True) -> None:
        self.write(self.session.tick(self.metrics, self.loop.time(), force=force))
        self._after()

    def _after(self) -> None:
        for ev in self.session.events():
            self.events.append(ev)
            if isinstance(ev, TextCommand) and self.on_command is not None:
                self.on_command(self, ev)
            elif isinstance(ev, LinkLost | LoginFailed) and self.stream is not None:
                self.stream.close()
                self.stream = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        when = self.session.next_deadline()
        if when is not None:
            self._timer = self.loop.call_at(when, self._tick)

    def drop(self) -> None:
        """Vanish without DISCONNECT (as a unit whose modem lost power)."""
        self.reconnect = False
        if self.stream is not None:
            self.stream.close()
            self.stream = None
        self.session.disconnected("test dropped the link")
        self._after()


def run_until(loop: RealLoop, cond: Callable[[], bool], timeout: float = 10.0) -> None:
    end = loop.time() + timeout
    while not cond():
        assert loop.time() < end, "condition not met in time"
        loop.run_for(0.02)


def _session(password: str = PASSWORD) -> MqttSession:
    return MqttSession("CAR1", random.Random(7), username=USER, password=password)


def _online(broker: Broker, metrics: dict[str, object] | None = None,
            on_command: Callable[[SessionLink, TextCommand], None] | None = None) -> tuple[RealLoop, SessionLink]:
    loop = RealLoop(seed=1)
    link = SessionLink(loop, broker.port, _session(), metrics if metrics is not None else {}, on_command)
    link.start()
    run_until(loop, lambda: any(isinstance(e, LoggedIn) for e in link.events))
    return loop, link


def _delivered(link: SessionLink) -> set[object]:
    return {i for e in link.events if isinstance(e, Delivered) for i in e.ids}


def _retained(broker: Broker, *topics: str) -> dict[str, str]:
    """What a fresh `mosquitto_sub` sees at once: the broker's retained messages."""
    args = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-u", USER, "-P", PASSWORD,
            "-v", "-W", "2"]
    for t in topics:
        args += ["-t", t]
    res = subprocess.run(args, capture_output=True, text=True, timeout=20)
    out: dict[str, str] = {}
    for line in res.stdout.splitlines():
        topic, _, payload = line.partition(" ")
        out[topic] = payload
    return out


class Subscriber:
    """paho-mqtt on its own thread: every message on `topic`, as (topic, payload, retain)."""

    def __init__(self, broker: Broker, topic: str) -> None:
        self.got: list[tuple[str, str]] = []
        self.subscribed = threading.Event()
        self.lock = threading.Lock()
        c = mqtt_client.Client(mqtt_client.CallbackAPIVersion.VERSION2, client_id="checker")
        c.username_pw_set(USER, PASSWORD)
        c.reconnect_delay_set(0.2, 1)
        c.on_connect = lambda cl, ud, fl, rc, pr: cl.subscribe(topic, qos=1)
        c.on_subscribe = lambda cl, ud, mid, rcs, pr: self.subscribed.set()
        c.on_disconnect = lambda cl, ud, fl, rc, pr: self.subscribed.clear()
        c.on_message = self._on_message
        c.connect("127.0.0.1", broker.port, keepalive=5)
        c.loop_start()
        self.client = c
        assert self.subscribed.wait(10)

    def _on_message(self, client: object, userdata: object, msg: object) -> None:
        with self.lock:
            self.got.append((msg.topic, msg.payload.decode()))  # type: ignore[attr-defined]

    def messages(self) -> list[tuple[str, str]]:
        with self.lock:
            return list(self.got)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# --- tests ----------------------------------------------------------------------------------------------

def test_retained_metrics_online_state_and_discovery_reach_a_fresh_subscriber(broker: Broker) -> None:
    metrics: dict[str, object] = {"v.b.soc": 81.0, "v.e.locked": False, "v.b.range.est": 250.0,
                                  "v.p.latitude": 52.52, "v.p.longitude": 13.405}
    loop, link = _online(broker, metrics)
    link.tick()
    # a QoS 1 marker: the broker handles a connection's packets in order, so once it is PUBACKed
    # every retained metric before it is stored
    link.write(link.session.send_alert("sync1", "sync", loop.time()))
    run_until(loop, lambda: "sync1" in _delivered(link))
    seen = _retained(broker, PREFIX + "metric/#", PREFIX + "ha/#", "homeassistant/#")
    assert seen[PREFIX + "metric/v/b/soc"] == "81"
    assert seen[PREFIX + "metric/v/e/locked"] == "no"
    assert seen[PREFIX + "metric/s/v3/connected"] == "yes"
    assert '"latitude": 52.52' in seen[PREFIX + "ha/location"]
    assert '"device_class":"battery"' in seen["homeassistant/sensor/CAR1/soc/config"]
    for cfg in ("binary_sensor/CAR1/charging", "binary_sensor/CAR1/door_fl", "lock/CAR1/lock",
                "device_tracker/CAR1/location", "sensor/CAR1/alert", "sensor/CAR1/range"):
        assert f"homeassistant/{cfg}/config" in seen
    # a car state change shows on the retained topics
    metrics.update({"v.b.soc": 79.5, "v.e.locked": True})
    link.tick()
    link.write(link.session.send_alert("sync2", "sync", loop.time()))
    run_until(loop, lambda: "sync2" in _delivered(link))
    seen = _retained(broker, PREFIX + "metric/#")
    assert (seen[PREFIX + "metric/v/b/soc"], seen[PREFIX + "metric/v/e/locked"]) == ("79.5", "yes")
    link.write(link.session.close(loop.time()))
    loop.run_for(0.2)


def test_the_last_will_says_offline_when_the_unit_vanishes(broker: Broker) -> None:
    loop, link = _online(broker)
    link.write(link.session.send_alert("s", "sync", loop.time()))
    run_until(loop, lambda: "s" in _delivered(link))
    assert _retained(broker, PREFIX + "metric/s/v3/connected")[PREFIX + "metric/s/v3/connected"] == "yes"
    link.drop()
    deadline = time.monotonic() + 10
    while _retained(broker, PREFIX + "metric/s/v3/connected").get(PREFIX + "metric/s/v3/connected") != "no":
        assert time.monotonic() < deadline, "the broker did not publish the will"


def test_a_wrong_password_is_login_failed(broker: Broker) -> None:
    loop = RealLoop(seed=1)
    link = SessionLink(loop, broker.port, _session("wrong"), {})
    link.reconnect = False
    link.start()
    run_until(loop, lambda: any(isinstance(e, LoginFailed) for e in link.events))
    [ev] = [e for e in link.events if isinstance(e, LoginFailed)]
    assert "not authorized" in ev.reason or "user name or password" in ev.reason
    assert "wrong" not in ev.reason


def test_a_qos1_alert_is_acknowledged_and_arrives_once(broker: Broker) -> None:
    sub = Subscriber(broker, PREFIX + "notify/#")
    try:
        loop, link = _online(broker)
        link.write(link.session.send_alert("a1", "Alarm sounding #A1", loop.time()))
        run_until(loop, lambda: "a1" in _delivered(link))
        run_until(loop, lambda: len(sub.messages()) >= 1)
        loop.run_for(0.5)
        assert sub.messages() == [(PREFIX + "notify/alert/tcu", "Alarm sounding #A1")]
    finally:
        sub.stop()


def _lock(link: SessionLink, cmd: TextCommand) -> None:
    """Stand-in for the firmware's command interpreter: LOCK locks the (dict) car."""
    if cmd.text.split()[:1] == ["LOCK"]:
        link.metrics["v.e.locked"] = True
        text = "Vehicle locked"
    else:
        text = f"Unknown command: {cmd.text}"
    link.write(link.session.respond(cmd.ref, text, link.loop.time()))
    link.tick()


def test_mosquitto_pub_on_the_command_topic_runs_and_the_response_arrives(broker: Broker) -> None:
    sub = Subscriber(broker, PREFIX + "client/+/response/#")
    try:
        loop, link = _online(broker, {"v.e.locked": False}, on_command=_lock)
        link.tick()
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-u", USER, "-P", PASSWORD,
                        "-q", "1", "-t", PREFIX + "client/cli1/command/42", "-m", "LOCK"],
                       check=True, timeout=20)
        run_until(loop, lambda: len(sub.messages()) >= 1)
        assert sub.messages() == [(PREFIX + "client/cli1/response/42", "Vehicle locked")]
        assert [e for e in link.events if isinstance(e, TextCommand)] == [TextCommand("cli1/42", "LOCK")]
        link.write(link.session.send_alert("s", "sync", loop.time()))
        run_until(loop, lambda: "s" in _delivered(link))
        assert _retained(broker, PREFIX + "metric/v/e/locked")[PREFIX + "metric/v/e/locked"] == "yes"
    finally:
        sub.stop()


def test_a_broker_killed_mid_publish_loses_no_qos1_alert(broker: Broker) -> None:
    sub = Subscriber(broker, PREFIX + "notify/#")
    try:
        loop, link = _online(broker)
        link.write(link.session.send_alert("a1", "before #T1", loop.time()))
        run_until(loop, lambda: "a1" in _delivered(link))
        # the broker freezes: the next alert reaches its socket but is never read, never PUBACKed
        broker.signal(signal.SIGSTOP)
        link.write(link.session.send_alert("a2", "in flight #T2", loop.time()))
        loop.run_for(0.3)
        link.reconnect = False
        sub.subscribed.clear()        # set again only when the checker has resubscribed to the new broker
        broker.kill()
        run_until(loop, lambda: any(isinstance(e, LinkLost) for e in link.events))
        assert "a2" not in _delivered(link)
        # while the broker is down, another alert is taken and held
        assert link.session.send_alert("a3", "while down #T3", loop.time()) == b""
        broker.start()
        assert sub.subscribed.wait(15), "the checker did not resubscribe"
        link.reconnect = True
        link.start()
        run_until(loop, lambda: {"a2", "a3"} <= _delivered(link), timeout=15)
        run_until(loop, lambda: {t for _, t in sub.messages()} >= {"in flight #T2", "while down #T3"})
        loop.run_for(0.5)
        tags = [payload.rsplit("#", 1)[1] for _, payload in sub.messages()]
        assert sorted(set(tags)) == ["T1", "T2", "T3"]          # none lost; the checker dedups by tag
        # after the reconnect, a2 went again with DUP set and a3 for the first time without
        resent = {x.payload: x for x in _publish_packets(link.written[-1]) if x.qos == 1}
        assert resent[b"in flight #T2"].dup and not resent[b"while down #T3"].dup
    finally:
        sub.stop()


def _publish_packets(data: bytes | bytearray) -> list[p.Publish]:
    r = p.PacketReader(max_packet=1 << 20)
    r.feed(bytes(data))
    out = []
    while (pkt := r.next_packet()) is not None:
        if isinstance(pkt, p.Publish):
            out.append(pkt)
    return out
