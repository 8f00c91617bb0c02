"""What the modem remembers: volatile settings (lost on reboot) and the SMS stores (kept).

SM (the SIM) and ME (the modem's flash) are separate stores with separate indexes, as on a SIM800:
a client that lists "SM" must never see what was stored in "ME".
"""

from __future__ import annotations

from dataclasses import dataclass, field

# sim800-at.md §3: the CIPSTATUS state names, exactly as the modem prints them.
IP_INITIAL = "IP INITIAL"
IP_START = "IP START"
IP_CONFIG = "IP CONFIG"
IP_GPRSACT = "IP GPRSACT"
IP_STATUS = "IP STATUS"
TCP_CONNECTING = "TCP CONNECTING"
CONNECT_OK = "CONNECT OK"
TCP_CLOSING = "TCP CLOSING"
TCP_CLOSED = "TCP CLOSED"
PDP_DEACT = "PDP DEACT"

# SIM800 manual V1.09 §8.2.2: in multi-IP mode (AT+CIPMUX=1) the stack shows IP PROCESSING while a
# link is in use, instead of the single-connection states.
IP_PROCESSING = "IP PROCESSING"

# States in which a PDP context (an IP address) exists.
PDP_ACTIVE_STATES = frozenset(
    {IP_GPRSACT, IP_STATUS, IP_PROCESSING, TCP_CONNECTING, CONNECT_OK, TCP_CLOSING, TCP_CLOSED}
)

# SIM800 manual V1.09 §8.2.12 <client state>: one link of the multi-IP mode, as AT+CIPSTATUS prints it.
LINK_INITIAL = "INITIAL"
LINK_CONNECTING = "CONNECTING"
LINK_CONNECTED = "CONNECTED"
LINK_REMOTE_CLOSING = "REMOTE CLOSING"
LINK_CLOSING = "CLOSING"
LINK_CLOSED = "CLOSED"
LINK_OPEN_STATES = frozenset({LINK_CONNECTING, LINK_CONNECTED})

# SIM800 manual V1.09 §9.2.1 AT+SAPBR <Status>.
BEARER_CONNECTING = 0
BEARER_CONNECTED = 1
BEARER_CLOSING = 2
BEARER_CLOSED = 3

# 27.005 §3.1 <stat>: text-mode names and PDU-mode numbers.
STAT_TEXT = {0: "REC UNREAD", 1: "REC READ", 2: "STO UNSENT", 3: "STO SENT", 4: "ALL"}
STAT_NUM = {v: k for k, v in STAT_TEXT.items()}


@dataclass
class Settings:
    """Everything ATZ / a reboot resets."""

    echo: bool = True
    cmee: int = 0
    cmgf: int = 0  # 0 PDU, 1 text (SIM800 powers up in PDU mode)
    cscs: str = "IRA"
    csdh: int = 0
    csmp: tuple[int, int, int, int] = (17, 167, 0, 0)
    cnmi: tuple[int, int, int, int, int] = (2, 1, 0, 0, 0)
    cpms: list[str] = field(default_factory=lambda: ["SM", "SM", "SM"])
    creg: int = 0
    cgreg: int = 0
    cereg: int = 0  # AT+CEREG (LTE dialects)
    cops_format: int = 0
    cops_mode: int = 0
    clts: int = 0
    clip: int = 0
    cfun: int = 1
    ipr: int = 115200
    cipmux: int = 0
    ciphead: int = 0
    cipqsend: int = 0
    cipsprt: int = 1
    ciprxget: int = 0
    cipsrip: int = 0
    cipssl: int = 0
    apn: str = ""
    cgdcont_apn: str = ""
    gnss_power: bool = False
    gnss_stream: bool = False
    pin_ok: bool = False
    cmux: tuple[int, ...] | None = None  # AT+CMUX's values once accepted: multiplexed (a reboot ends it)
    # Plain numeric settings a command only stores and reports (+CSCLK, +CNETLIGHT, +CBATCHK, +CENG...).
    registers: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class Link:
    """One TCP link of the IP stack: link 0 in single-connection mode, 0..5 with AT+CIPMUX=1.

    `sock` names the network connection the adapter holds for it (0: none); a new connection gets a
    new number, so a late event of an old one is recognised and dropped.
    """

    n: int
    state: str = LINK_INITIAL
    sock: int = 0
    host: str = ""
    port: int = 0
    rx: bytearray = field(default_factory=bytearray)  # AT+CIPRXGET=1: data waiting to be read


@dataclass(slots=True)
class BearerProfile:
    """One AT+SAPBR bearer profile (cid 1..3): the parameters of §9.2.1 and whether it is up."""

    contype: str = "GPRS"
    apn: str = "CMNET"
    user: str = ""
    pwd: str = ""
    phonenum: str = ""
    rate: str = "2"
    status: int = BEARER_CLOSED
    ip: str = "0.0.0.0"


@dataclass
class StoredSms:
    """One message in a store; `pdu` is the full PDU hex (SMSC part included) for PDU mode."""

    stat: int
    number: str  # originator (received) or destination (stored for sending)
    text: str
    scts: str  # "yy/MM/dd,hh:mm:ss+zz"
    pdu: str
    tpdu_length: int


class SmsStore:
    """A fixed-size, 1-indexed message store (an EF_SMS file on the SIM, or the modem's flash)."""

    def __init__(self, name: str, capacity: int) -> None:
        self.name = name
        self.capacity = capacity
        self.slots: dict[int, StoredSms] = {}

    def used(self) -> int:
        return len(self.slots)

    def add(self, msg: StoredSms) -> int | None:
        """Store in the lowest free index; None when full."""
        for i in range(1, self.capacity + 1):
            if i not in self.slots:
                self.slots[i] = msg
                return i
        return None

    def get(self, index: int) -> StoredSms | None:
        return self.slots.get(index)

    def delete(self, index: int) -> bool:
        return self.slots.pop(index, None) is not None

    def items(self) -> list[tuple[int, StoredSms]]:
        return sorted(self.slots.items())
