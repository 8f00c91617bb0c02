"""MQTT 3.1.1 control packets (OASIS standard, 29 Oct 2014), sans-IO: frozen dataclasses, `encode()`
to bytes, and a `PacketReader` that turns any chunking of a byte stream into the same packets.

Why our own small core: the unit must run MQTT over the modem's TCP link and on the virtual clock, so
the codec may do no I/O and read no clock. Of the MQTT packages on PyPI, paho-mqtt and aiomqtt own
their sockets, amqtt/hbmqtt are asyncio, moat-lib-mqtt speaks only MQTT 5, and mqtt-codec has had no
release since 2019. The client needs eleven packet types; that is ~300 lines we can fuzz and check
against Mosquitto (tests/mqtt/).

We speak CONNECT/CONNACK, PUBLISH (QoS 0 and 1; QoS 2 decodes, the session refuses it), PUBACK,
SUBSCRIBE/SUBACK, UNSUBSCRIBE/UNSUBACK, PINGREQ/PINGRESP and DISCONNECT. PUBREC/PUBREL/PUBCOMP
(QoS 2 only) are not spoken: we never publish or subscribe at QoS 2, so a broker sending them is
broken. Every malformed input raises `MqttError` and nothing else; encoding a packet that breaks the
spec is our bug and raises `ValueError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Final

# §2.2.3: the remaining length is at most four bytes of 7-bit groups.
MAX_REMAINING_LENGTH: Final = 268_435_455
# A device with little RAM refuses packets larger than this (a broker may send up to 256 MB).
DEFAULT_MAX_PACKET: Final = 256 * 1024

PROTOCOL_NAME: Final = b"MQTT"
PROTOCOL_LEVEL: Final = 4           # §3.1.2.2: 3.1.1

# §3.2.2.3 CONNACK return codes.
CONNACK_REASONS: Final = {
    0: "accepted",
    1: "unacceptable protocol version",
    2: "identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorized",
}
SUBACK_FAILURE: Final = 0x80        # §3.9.3


class MqttError(ValueError):
    """The peer sent bytes that are not a valid MQTT 3.1.1 packet (the connection must be closed)."""


# --- packets ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Connect:
    """§3.1. `keep_alive` in seconds (0 = off); the will is published by the broker if we vanish."""

    TYPE: ClassVar[int] = 1
    client_id: str
    keep_alive: int = 60
    clean_session: bool = True
    username: str | None = None
    password: bytes | None = None
    will_topic: str | None = None
    will_message: bytes = b""
    will_qos: int = 0
    will_retain: bool = False

    def __repr__(self) -> str:   # never show the password (STYLE: secrets never appear in logs)
        return (f"Connect(client_id={self.client_id!r}, keep_alive={self.keep_alive}, "
                f"clean_session={self.clean_session}, username={self.username!r}, "
                f"password={'***' if self.password is not None else None}, will_topic={self.will_topic!r})")


@dataclass(frozen=True)
class Connack:
    """§3.2. `return_code` 0 is accepted; see CONNACK_REASONS."""

    TYPE: ClassVar[int] = 2
    session_present: bool = False
    return_code: int = 0


@dataclass(frozen=True)
class Publish:
    """§3.3. `packet_id` is None exactly when qos is 0."""

    TYPE: ClassVar[int] = 3
    topic: str
    payload: bytes = b""
    qos: int = 0
    retain: bool = False
    dup: bool = False
    packet_id: int | None = None


@dataclass(frozen=True)
class Puback:
    """§3.4: the receiver of a QoS 1 PUBLISH has it."""

    TYPE: ClassVar[int] = 4
    packet_id: int


@dataclass(frozen=True)
class Subscribe:
    """§3.8: (topic filter, requested QoS) pairs."""

    TYPE: ClassVar[int] = 8
    packet_id: int
    topics: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Suback:
    """§3.9: one return code per filter: the granted QoS, or 0x80 for failure."""

    TYPE: ClassVar[int] = 9
    packet_id: int
    return_codes: tuple[int, ...]


@dataclass(frozen=True)
class Unsubscribe:
    """§3.10."""

    TYPE: ClassVar[int] = 10
    packet_id: int
    topics: tuple[str, ...]


@dataclass(frozen=True)
class Unsuback:
    """§3.11."""

    TYPE: ClassVar[int] = 11
    packet_id: int


@dataclass(frozen=True)
class Pingreq:
    """§3.12: keep-alive probe; the broker answers PINGRESP."""

    TYPE: ClassVar[int] = 12


@dataclass(frozen=True)
class Pingresp:
    """§3.13."""

    TYPE: ClassVar[int] = 13


@dataclass(frozen=True)
class Disconnect:
    """§3.14: a clean goodbye; the broker then discards the will."""

    TYPE: ClassVar[int] = 14


Packet = (Connect | Connack | Publish | Puback | Subscribe | Suback | Unsubscribe | Unsuback
          | Pingreq | Pingresp | Disconnect)


# --- encoding ---------------------------------------------------------------------------------------------
def encode_remaining_length(n: int) -> bytes:
    """§2.2.3: 7 bits per byte, least significant group first, high bit = more bytes follow."""
    if not 0 <= n <= MAX_REMAINING_LENGTH:
        raise ValueError(f"remaining length {n} out of range")
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(s: str) -> bytes:
    """§1.5.3: UTF-8 with a two-byte length; no U+0000."""
    if "\x00" in s:
        raise ValueError(f"MQTT strings must not contain U+0000: {s!r}")
    return _binary(s.encode("utf-8"))


def _binary(b: bytes) -> bytes:
    if len(b) > 0xFFFF:
        raise ValueError(f"field of {len(b)} bytes does not fit a two-byte length")
    return len(b).to_bytes(2, "big") + b


def _pid(packet_id: int | None) -> bytes:
    if packet_id is None or not 1 <= packet_id <= 0xFFFF:
        raise ValueError(f"packet id must be 1..65535, not {packet_id}")
    return packet_id.to_bytes(2, "big")


def _check_qos(qos: int, allowed: range = range(3)) -> None:
    if qos not in allowed:
        raise ValueError(f"QoS {qos} not allowed here")


def _check_topic_name(topic: str) -> None:
    """§4.7: a topic name (as published) is at least one character and has no wildcard."""
    if not topic or "+" in topic or "#" in topic:
        raise ValueError(f"not a valid topic name: {topic!r}")


def encode(packet: Packet) -> bytes:
    """The bytes of one packet. Raises ValueError for a packet the spec forbids (our bug)."""
    flags = 0
    body: bytes
    if isinstance(packet, Connect):
        cflags = 0x02 if packet.clean_session else 0
        will = b""
        if packet.will_topic is not None:
            _check_qos(packet.will_qos)
            _check_topic_name(packet.will_topic)
            cflags |= 0x04 | (packet.will_qos << 3) | (0x20 if packet.will_retain else 0)
            will = _string(packet.will_topic) + _binary(packet.will_message)
        elif packet.will_qos or packet.will_retain or packet.will_message:
            raise ValueError("will QoS/retain/message without a will topic")
        creds = b""
        if packet.username is not None:
            cflags |= 0x80
            creds += _string(packet.username)
        if packet.password is not None:
            if packet.username is None:
                raise ValueError("§3.1.2.9: a password needs a user name")
            cflags |= 0x40
            creds += _binary(packet.password)
        if not 0 <= packet.keep_alive <= 0xFFFF:
            raise ValueError(f"keep alive {packet.keep_alive} out of range")
        body = (_binary(PROTOCOL_NAME) + bytes((PROTOCOL_LEVEL, cflags)) + packet.keep_alive.to_bytes(2, "big")
                + _string(packet.client_id) + will + creds)
    elif isinstance(packet, Connack):
        if packet.return_code not in CONNACK_REASONS:
            raise ValueError(f"CONNACK return code {packet.return_code}")
        if packet.session_present and packet.return_code != 0:
            raise ValueError("§3.2.2.2: session present only with return code 0")
        body = bytes((1 if packet.session_present else 0, packet.return_code))
    elif isinstance(packet, Publish):
        _check_qos(packet.qos)
        _check_topic_name(packet.topic)
        if packet.qos == 0 and (packet.dup or packet.packet_id is not None):
            raise ValueError("§3.3.1.1: a QoS 0 PUBLISH has neither DUP nor a packet id")
        flags = (0x08 if packet.dup else 0) | (packet.qos << 1) | (0x01 if packet.retain else 0)
        body = _string(packet.topic) + (_pid(packet.packet_id) if packet.qos else b"") + packet.payload
    elif isinstance(packet, Puback | Unsuback):
        body = _pid(packet.packet_id)
    elif isinstance(packet, Subscribe):
        flags = 0x02
        if not packet.topics:
            raise ValueError("§3.8.3: SUBSCRIBE needs at least one filter")
        parts = [_pid(packet.packet_id)]
        for topic, qos in packet.topics:
            _check_qos(qos)
            if not topic:
                raise ValueError("empty topic filter")
            parts.append(_string(topic) + bytes((qos,)))
        body = b"".join(parts)
    elif isinstance(packet, Suback):
        if not packet.return_codes or any(c not in (0, 1, 2, SUBACK_FAILURE) for c in packet.return_codes):
            raise ValueError(f"SUBACK return codes {packet.return_codes}")
        body = _pid(packet.packet_id) + bytes(packet.return_codes)
    elif isinstance(packet, Unsubscribe):
        flags = 0x02
        if not packet.topics or not all(packet.topics):
            raise ValueError("§3.10.3: UNSUBSCRIBE needs at least one non-empty filter")
        body = _pid(packet.packet_id) + b"".join(_string(t) for t in packet.topics)
    else:   # Pingreq, Pingresp, Disconnect
        body = b""
    return bytes(((packet.TYPE << 4) | flags,)) + encode_remaining_length(len(body)) + body


# --- decoding ---------------------------------------------------------------------------------------------
class _Body:
    """A cursor over one packet's variable header and payload; every short read is an MqttError."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data = data
        self.pos = 0
        self.what = what

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise MqttError(f"{self.what}: packet ends early")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def binary(self) -> bytes:
        return self.take(self.u16())

    def string(self) -> str:
        raw = self.binary()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MqttError(f"{self.what}: string is not UTF-8") from exc
        if "\x00" in text:
            raise MqttError(f"{self.what}: string contains U+0000 (§1.5.3)")
        return text

    def packet_id(self) -> int:
        pid = self.u16()
        if pid == 0:
            raise MqttError(f"{self.what}: packet id 0 (§2.3.1)")
        return pid

    def rest(self) -> bytes:
        out = self.data[self.pos:]
        self.pos = len(self.data)
        return out

    def at_end(self) -> bool:
        return self.pos >= len(self.data)

    def done(self) -> None:
        if not self.at_end():
            raise MqttError(f"{self.what}: {len(self.data) - self.pos} unexpected trailing bytes")


# §2.2.2: the flags each packet type must carry (PUBLISH's are variable).
_FIXED_FLAGS: Final = {1: 0, 2: 0, 4: 0, 8: 2, 9: 0, 10: 2, 11: 0, 12: 0, 13: 0, 14: 0}
_NAMES: Final = {1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC", 6: "PUBREL",
                 7: "PUBCOMP", 8: "SUBSCRIBE", 9: "SUBACK", 10: "UNSUBSCRIBE", 11: "UNSUBACK",
                 12: "PINGREQ", 13: "PINGRESP", 14: "DISCONNECT", 15: "reserved type 15", 0: "reserved type 0"}


def decode_packet(first: int, body: bytes) -> Packet:
    """One packet from its first byte and its body (the bytes after the remaining length)."""
    ptype, flags = first >> 4, first & 0x0F
    name = _NAMES[ptype]
    if ptype == 3:
        return _decode_publish(flags, _Body(body, name))
    if ptype not in _FIXED_FLAGS:
        raise MqttError(f"{name} is not spoken by this client")
    if flags != _FIXED_FLAGS[ptype]:
        raise MqttError(f"{name}: reserved flags {flags:#x} (§2.2.2)")
    b = _Body(body, name)
    packet: Packet
    if ptype == 1:
        packet = _decode_connect(b)
    elif ptype == 2:
        ack = b.u8()
        code = b.u8()
        if ack & 0xFE:
            raise MqttError("CONNACK: reserved acknowledge flags set (§3.2.2.1)")
        if code not in CONNACK_REASONS:
            raise MqttError(f"CONNACK: unknown return code {code}")
        if ack and code:
            raise MqttError("CONNACK: session present with a refusal (§3.2.2.2)")
        packet = Connack(bool(ack), code)
    elif ptype == 4:
        packet = Puback(b.packet_id())
    elif ptype == 8:
        pid = b.packet_id()
        subs: list[tuple[str, int]] = []
        while not b.at_end():
            topic = b.string()
            qos = b.u8()
            if qos > 2:
                raise MqttError(f"SUBSCRIBE: requested QoS byte {qos:#x} (§3.8.3.1)")
            if not topic:
                raise MqttError("SUBSCRIBE: empty topic filter")
            subs.append((topic, qos))
        if not subs:
            raise MqttError("SUBSCRIBE without a topic filter (§3.8.3)")
        packet = Subscribe(pid, tuple(subs))
    elif ptype == 9:
        pid = b.packet_id()
        codes = tuple(b.rest())
        if not codes or any(c not in (0, 1, 2, SUBACK_FAILURE) for c in codes):
            raise MqttError(f"SUBACK: bad return codes {codes} (§3.9.3)")
        packet = Suback(pid, codes)
    elif ptype == 10:
        pid = b.packet_id()
        filters: list[str] = []
        while not b.at_end():
            topic = b.string()
            if not topic:
                raise MqttError("UNSUBSCRIBE: empty topic filter")
            filters.append(topic)
        if not filters:
            raise MqttError("UNSUBSCRIBE without a topic filter (§3.10.3)")
        packet = Unsubscribe(pid, tuple(filters))
    elif ptype == 11:
        packet = Unsuback(b.packet_id())
    elif ptype == 12:
        packet = Pingreq()
    elif ptype == 13:
        packet = Pingresp()
    else:
        packet = Disconnect()
    b.done()
    return packet


def _decode_publish(flags: int, b: _Body) -> Publish:
    dup, qos, retain = bool(flags & 0x08), (flags >> 1) & 0x03, bool(flags & 0x01)
    if qos == 3:
        raise MqttError("PUBLISH with QoS 3 (§3.3.1.2)")
    if qos == 0 and dup:
        raise MqttError("QoS 0 PUBLISH with DUP set (§3.3.1.1)")
    topic = b.string()
    if not topic or "+" in topic or "#" in topic:
        raise MqttError(f"PUBLISH: not a topic name: {topic[:60]!r} (§3.3.2.1)")
    pid = b.packet_id() if qos else None
    return Publish(topic, b.rest(), qos, retain, dup, pid)


def _decode_connect(b: _Body) -> Connect:
    if b.binary() != PROTOCOL_NAME:
        raise MqttError("CONNECT: protocol name is not MQTT (§3.1.2.1)")
    level = b.u8()
    if level != PROTOCOL_LEVEL:
        raise MqttError(f"CONNECT: protocol level {level}, this is 3.1.1 (4)")
    cflags = b.u8()
    keep_alive = b.u16()
    if cflags & 0x01:
        raise MqttError("CONNECT: reserved flag set (§3.1.2.3)")
    will_flag, will_qos, will_retain = bool(cflags & 0x04), (cflags >> 3) & 0x03, bool(cflags & 0x20)
    if will_qos == 3 or (not will_flag and (will_qos or will_retain)):
        raise MqttError("CONNECT: will QoS/retain inconsistent with the will flag (§3.1.2.6-7)")
    if cflags & 0x40 and not cflags & 0x80:
        raise MqttError("CONNECT: password without user name (§3.1.2.9)")
    client_id = b.string()
    will_topic: str | None = None
    will_message = b""
    if will_flag:
        will_topic = b.string()
        if not will_topic or "+" in will_topic or "#" in will_topic:
            raise MqttError("CONNECT: will topic is not a topic name")
        will_message = b.binary()
    username = b.string() if cflags & 0x80 else None
    password = b.binary() if cflags & 0x40 else None
    return Connect(client_id, keep_alive, bool(cflags & 0x02), username, password,
                   will_topic, will_message, will_qos, will_retain)


@dataclass
class PacketReader:
    """Buffers received bytes and yields whole packets, however the stream was cut.

    After an MqttError the stream has lost its framing: the reader stays broken (raises again) and the
    caller must close the connection.
    """

    max_packet: int = DEFAULT_MAX_PACKET
    _buf: bytearray = field(default_factory=bytearray)
    _error: MqttError | None = None

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next_packet(self) -> Packet | None:
        """The next whole packet, or None when more bytes are needed."""
        if self._error is not None:
            raise self._error
        try:
            return self._next()
        except MqttError as exc:
            self._error = exc
            raise

    def _next(self) -> Packet | None:
        buf = self._buf
        if not buf:
            return None
        length = 0
        for i in range(4):
            if 1 + i >= len(buf):
                return None
            byte = buf[1 + i]
            length |= (byte & 0x7F) << (7 * i)
            if not byte & 0x80:
                header = 2 + i
                break
        else:
            raise MqttError("remaining length longer than four bytes (§2.2.3)")
        if header > 2 and buf[header - 1] == 0:
            raise MqttError("remaining length not in its shortest form (§2.2.3)")
        if length > self.max_packet:
            raise MqttError(f"packet of {length} bytes exceeds our limit of {self.max_packet}")
        if len(buf) < header + length:
            return None
        first = buf[0]
        body = bytes(buf[header:header + length])
        del buf[:header + length]
        return decode_packet(first, body)
