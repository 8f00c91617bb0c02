"""SMS in text and PDU mode (27.005 as a SIM800 speaks it; sim800-at.md §2 row SMS).

The PDU codec is `modem.sms` (shared, checked against gammu); this module only decides what the
modem does with messages: stores, indications, references, errors.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from modem.emulator import state as st
from modem.emulator import text_mode
from modem.emulator.command import Command, Prompt, Reply, command
from modem.emulator.errors import AtError, CmsError
from modem.emulator.events import SmsOut
from modem.sms import SmsDeliver, SmsError, SmsSubmit, decode_submit, encode_submit, gsm7

if TYPE_CHECKING:
    from modem.emulator.interpreter import Interpreter

log = logging.getLogger(__name__)

STORES = ("SM", "ME")


def _require_sms(m: Interpreter) -> None:
    if m.faults.on("no-sim", m.now) or not m.sim_ready:
        raise CmsError(310)
    if not m.sim_usable():
        raise CmsError(311)
    if not m.sms_ready:
        raise CmsError(302)


def to_te(m: Interpreter, text: str) -> str:
    """A string parameter (a number) as the host sees it under AT+CSCS."""
    return text_mode.string_to_te(m.settings.cscs, text)


def number_from_te(m: Interpreter, raw: str) -> str:
    """A phone number under AT+CSCS: coded in the character set, or — what most clients send after
    AT+CSCS="HEX"/"UCS2" for the text's sake — the plain dial string; anything else is refused."""
    try:
        number = text_mode.string_from_te(m.settings.cscs, raw)
    except text_mode.TextModeError:
        number = raw
    if not _dial_string(number):
        number = raw
    if not _dial_string(number):
        raise CmsError(305)
    return number


def _dial_string(number: str) -> bool:
    return bool(number) and all(ch.isdigit() and ch.isascii() or ch in "+*#" for ch in number)


@command("+CMGF")
def cmgf(m: Interpreter, c: Command) -> Reply:
    if c.op == "read":
        return Reply(lines=[f"+CMGF: {m.settings.cmgf}"])
    if c.op == "test":
        return Reply(lines=["+CMGF: (0,1)"])
    v = c.int_arg(0, 0) if c.op == "set" else 0
    if v not in (0, 1):
        raise AtError()
    m.settings.cmgf = v
    return Reply()


@command("+CSCA")
def csca(m: Interpreter, c: Command) -> Reply:
    if c.op == "read":
        _require_sim_only(m)
        return Reply(lines=[f'+CSCA: "{to_te(m, m.smsc)}",{145 if m.smsc.startswith("+") else 129}'])
    if c.op == "test":
        return Reply()
    if c.op == "set":
        m.smsc = number_from_te(m, c.str_arg(0))
    return Reply()


def _require_sim_only(m: Interpreter) -> None:
    if m.faults.on("no-sim", m.now) or not m.sim_ready:
        raise CmsError(310)


@command("+CSMP")
def csmp(m: Interpreter, c: Command) -> Reply:
    if c.op == "read":
        return Reply(lines=["+CSMP: " + ",".join(map(str, m.settings.csmp))])
    if c.op == "test":
        return Reply()
    if c.op == "set":
        vals = [
            int(a) if a.strip().isdigit() else d
            for a, d in zip(c.args() + [""] * 4, m.settings.csmp, strict=False)
        ]
        m.settings.csmp = (vals[0], vals[1], vals[2], vals[3])
    return Reply()


@command("+CSDH")
def csdh(m: Interpreter, c: Command) -> Reply:
    if c.op == "read":
        return Reply(lines=[f"+CSDH: {m.settings.csdh}"])
    if c.op == "test":
        return Reply(lines=["+CSDH: (0,1)"])
    m.settings.csdh = c.int_arg(0, 0) if c.op == "set" else 0
    return Reply()


@command("+CSMS")
def csms(m: Interpreter, c: Command) -> Reply:
    if c.op == "read":
        return Reply(lines=["+CSMS: 0,1,1,1"])
    if c.op == "test":
        return Reply(lines=["+CSMS: (0,1)"])
    return Reply(lines=["+CSMS: 1,1,1"])


@command("+CNMI")
def cnmi(m: Interpreter, c: Command) -> Reply:
    if c.op == "read":
        return Reply(lines=["+CNMI: " + ",".join(map(str, m.settings.cnmi))])
    if c.op == "test":
        return Reply(lines=["+CNMI: (0-3),(0-3),(0,2),(0-2),(0,1)"])
    if c.op != "set":
        raise AtError()
    old = m.settings.cnmi
    vals = []
    for i in range(5):
        vals.append(c.int_arg(i, old[i]))
    if not (0 <= vals[0] <= 3 and 0 <= vals[1] <= 3 and vals[2] in (0, 2) and 0 <= vals[3] <= 2):
        raise CmsError(303)
    m.settings.cnmi = (vals[0], vals[1], vals[2], vals[3], vals[4])
    return Reply()


def _cpms_line(m: Interpreter, with_names: bool) -> str:
    parts = []
    for name in m.settings.cpms:
        store = m.stores[name]
        prefix = f'"{name}",' if with_names else ""
        parts.append(f"{prefix}{store.used()},{store.capacity}")
    return "+CPMS: " + ",".join(parts)


@command("+CPMS")
def cpms(m: Interpreter, c: Command) -> Reply:
    if c.op == "test":
        stores = ",".join(f'"{s}"' for s in STORES)
        return Reply(lines=[f"+CPMS: ({stores}),({stores}),({stores})"])
    _require_sms(m)
    if c.op == "read":
        return Reply(lines=[_cpms_line(m, True)])
    if c.op != "set":
        raise AtError()
    args = [a.upper() for a in c.args()]
    if not 1 <= len(args) <= 3 or any(a not in STORES for a in args):
        raise CmsError(302)
    for i, a in enumerate(args):
        m.settings.cpms[i] = a
    return Reply(lines=[_cpms_line(m, False)])


# ------------------------------------------------------------------ sending
@command("+CMGS")
def cmgs(m: Interpreter, c: Command) -> Reply:
    if c.op == "test":
        return Reply()
    if c.op != "set":
        raise AtError()
    _require_sms(m)
    if m.settings.cmgf == 1:
        da = number_from_te(m, c.str_arg(0))
        return Reply(final=None, prompt=Prompt("cmgs-text", target=da))
    length = c.int_arg(0)
    if not 7 <= length <= 164:
        raise CmsError(304)
    return Reply(final=None, prompt=Prompt("cmgs-pdu", length=None, target=str(length)))


def _payload(m: Interpreter, p: Prompt, target: str, pdu_length: int) -> tuple[SmsOut, bool, str]:
    """What was typed after the prompt -> (message, status report wanted, SUBMIT PDU hex)."""
    if p.kind.endswith("-text"):
        dcs = m.settings.csmp[3]
        try:
            text = text_mode.body_from_te(m.settings.cscs, dcs, bytes(p.buf)).replace("\r", "\n")
        except text_mode.TextModeError:
            raise CmsError(305) from None
        kind = text_mode.alphabet(dcs)
        if kind == "gsm7" and sum(gsm7.septet_length(ch) for ch in text) > 160:
            raise CmsError(305)
        if kind != "gsm7" and len(text.encode("utf-16-be" if kind == "ucs2" else "latin-1")) > 140:
            raise CmsError(305)  # 140 octets of user data: 70 UCS2 characters
        wants_report = bool(m.settings.csmp[0] & 0x20)
        try:
            pdu = encode_submit(SmsSubmit(target or "0", text, request_status=wants_report)).hex
        except SmsError:
            pdu = ""
        return SmsOut(m.number, target, text, 0), wants_report, pdu
    hex_text = bytes(p.buf).decode("latin-1").strip()
    try:
        raw = bytes.fromhex(hex_text)
        smsc_len = raw[0] if raw else 0
        if len(raw) - 1 - smsc_len != pdu_length:
            raise CmsError(304)
        msg = decode_submit(hex_text, smsc_included=True)
    except (ValueError, IndexError, SmsError):
        raise CmsError(304) from None
    return SmsOut(m.number, msg.number, msg.text, msg.reference, msg.concat, hex_text), msg.request_status, hex_text


def send_payload(m: Interpreter, p: Prompt) -> Reply:
    """Ctrl-Z after AT+CMGS: hand the message to the network, answer +CMGS: <mr>.
    After AT+CMGW: store it (27.005 §3.5.3), answer +CMGW: <index>."""
    if p.kind.startswith("cmgw"):
        return _write(m, p)
    out, wants_report, _ = _payload(m, p, p.target, 0 if p.kind.endswith("-text") else int(p.target))
    return _submit(m, out, wants_report, "+CMGS")


def _submit(m: Interpreter, out: SmsOut, wants_report: bool, prefix: str) -> Reply:
    if not m.registered():
        raise CmsError(331)
    if m.faults.on("smsc-down", m.now):
        return Reply(final=None, delay=m.delay("cmgs_fail"), after=lambda: _late_error(m, 332))
    ref = m.next_ref()
    m.submit(SmsOut(out.sender, out.to, out.text, ref, out.concat, out.pdu))
    delay = m.delay("cmgs")
    if wants_report and m.settings.cnmi[3] == 1:
        m.later(delay + max(1.0, m.delay("cmgs")), _status_report, m, ref, out.to)
    return Reply(lines=[f"{prefix}: {ref}"], delay=delay)


# Prompt.target of AT+CMGW carries "<stat>,<length>" (PDU mode) or "<stat>,<da>" (text mode).
def _write(m: Interpreter, p: Prompt) -> Reply:
    stat_text, _, rest = p.target.partition(",")
    stat = int(stat_text)
    if p.kind.endswith("-text"):
        out, _, pdu = _payload(m, p, rest, 0)
        tpdu_length = len(pdu) // 2 - 1 if pdu else 0
    else:
        out, _, pdu = _payload(m, p, "", int(rest))
        tpdu_length = int(rest)
    store = m.stores[m.settings.cpms[1]]
    index = store.add(st.StoredSms(stat, out.to, out.text, "", pdu, tpdu_length))
    if index is None:
        raise CmsError(322)
    return Reply(lines=[f"+CMGW: {index}"])


@command("+CMGW")
def cmgw(m: Interpreter, c: Command) -> Reply:
    """27.005 §3.5.3 write a message to memory <mem2>: text `="<da>"[,<toda>[,<stat>]]`, PDU `=<length>[,<stat>]`."""
    if c.op == "test":
        return Reply()
    _require_sms(m)
    if m.settings.cmgf == 1:
        da = number_from_te(m, c.str_arg(0)) if c.op == "set" and c.str_arg(0, "") else ""
        stat_text = c.str_arg(2, "STO UNSENT").upper() if c.op == "set" else "STO UNSENT"
        if stat_text not in ("STO UNSENT", "STO SENT"):
            raise CmsError(302)
        return Reply(final=None, prompt=Prompt("cmgw-text", target=f"{st.STAT_NUM[stat_text]},{da}"))
    if c.op != "set":
        raise AtError()
    length = c.int_arg(0)
    stat = c.int_arg(1, 2)
    if not 7 <= length <= 164:
        raise CmsError(304)
    if stat not in st.STAT_TEXT or stat == 4:
        raise CmsError(302)
    return Reply(final=None, prompt=Prompt("cmgw-pdu", target=f"{stat},{length}"))


@command("+CMSS")
def cmss(m: Interpreter, c: Command) -> Reply:
    """27.005 §3.5.2 send a stored message from <mem2> (to <da> if given): +CMSS: <mr>."""
    if c.op == "test":
        return Reply()
    if c.op != "set":
        raise AtError()
    _require_sms(m)
    store = m.stores[m.settings.cpms[1]]
    index = c.int_arg(0)
    msg = store.get(index)
    if msg is None:
        raise CmsError(321)
    to = number_from_te(m, c.str_arg(1)) if c.str_arg(1, "") else msg.number
    concat = None
    if msg.pdu:
        try:
            concat = decode_submit(msg.pdu, smsc_included=True).concat
        except SmsError:
            concat = None
    if not to:
        raise CmsError(330)
    reply = _submit(m, SmsOut(m.number, to, msg.text, 0, concat), False, "+CMSS")
    if reply.lines:
        msg.stat = 3  # STO SENT
    return reply


@command("+CSCB")
def cscb(m: Interpreter, c: Command) -> Reply:
    """27.005 §3.3.4 cell broadcast types: none selected (the virtual network broadcasts nothing)."""
    if c.op == "read":
        return Reply(lines=['+CSCB: 0,"",""'])
    if c.op == "test":
        return Reply(lines=["+CSCB: (0,1)"])
    return Reply()


@command("+CSAS", "+CRES")
def csas(m: Interpreter, c: Command) -> Reply:
    """27.005 §3.3.5/§3.3.6 save/restore SMS settings: accepted (profile 0)."""
    if c.op == "test":
        return Reply(lines=[f"{c.name}: (0)"])
    return Reply()


def _status_report(m: Interpreter, ref: int, to: str) -> None:
    """+CDS: the SMSC says the message reached the phone (27.005 §3.4.1, text mode)."""
    if m.settings.cmgf == 1:
        scts = m.scts()
        m.urc(f'+CDS: 6,{ref},"{to}",{_toa(to)},"{scts}","{scts}",0')
    else:
        # Status-report PDUs are outside the shared codec (modem.sms); say so rather than invent one.
        log.info("%s: status report for %d not sent: PDU-mode +CDS not emulated", m.name, ref)


def _late_error(m: Interpreter, code: int) -> None:
    m._emit(b"\r\n" + CmsError(code).render(m.settings.cmee).encode() + b"\r\n")


# ------------------------------------------------------------------ receiving
def deliver(m: Interpreter, part: SmsDeliver) -> None:
    """An SMS-DELIVER reaches the modem: +CMT, or store and +CMTI, per AT+CNMI."""
    pdu, tpdu_len = m.encode_deliver(part)
    scts = m.scts(part.timestamp)
    mode, mt = m.settings.cnmi[0], m.settings.cnmi[1]
    if mt == 2 and mode != 0:
        if m.settings.cmgf == 1:
            data, dcs, length = text_mode.body_to_te(m.settings.cscs, part.text)
            head = f'+CMT: "{to_te(m, part.originator)}","","{scts}"'
            if m.settings.csdh:
                head += f",{_toa(part.originator)},{4 if part.concat is None else 68},0,{dcs},"
                head += f'"{to_te(m, m.smsc)}",{_toa(m.smsc)},{length}'
            m.urc(f"{head}\r\n{data}")
        else:
            m.urc(f"+CMT: ,{tpdu_len}\r\n{pdu}")
        return
    mem = m.settings.cpms[2]
    index = m.stores[mem].add(st.StoredSms(0, part.originator, part.text, scts, pdu, tpdu_len))
    if index is None:
        log.warning("%s: %s store full, message from %s lost", m.name, mem, part.originator)
        return
    if mt in (1, 3) and mode != 0:
        m.urc(f'+CMTI: "{mem}",{index}')


def _toa(number: str) -> int:
    return 145 if number.startswith("+") else 129


def _header_text(m: Interpreter, index: int | None, msg: st.StoredSms, dcs: int, length: int) -> str:
    """27.005 §3.4.3/§4.3 text-mode header of +CMGL (with <index>) or +CMGR (without)."""
    stat = st.STAT_TEXT[msg.stat]
    idx = f"{index}," if index is not None else ""
    if msg.stat in (2, 3):  # a stored SMS-SUBMIT: <da>, no <scts>
        return f'{idx}"{stat}","{to_te(m, msg.number)}",""'
    head = f'{idx}"{stat}","{to_te(m, msg.number)}","","{msg.scts}"'
    if m.settings.csdh:
        head += (
            f",{_toa(msg.number)},{length}"
            if index is not None
            else f',{_toa(msg.number)},4,0,{dcs},"{to_te(m, m.smsc)}",{_toa(m.smsc)},{length}'
        )
    return head


def _read_store(m: Interpreter) -> st.SmsStore:
    return m.stores[m.settings.cpms[0]]


@command("+CMGR")
def cmgr(m: Interpreter, c: Command) -> Reply:
    if c.op == "test":
        return Reply()
    if c.op != "set":
        raise AtError()
    _require_sms(m)
    index = c.int_arg(0)
    store = _read_store(m)
    if not 1 <= index <= store.capacity:
        raise CmsError(321)
    msg = store.get(index)
    if msg is None:
        return Reply()  # SIM800: an empty slot answers a bare OK
    lines = _render(m, None, msg)
    if c.int_arg(1, 0) == 0 and msg.stat == 0:
        msg.stat = 1
    return Reply(lines=lines)


def _render(m: Interpreter, index: int | None, msg: st.StoredSms) -> list[str | bytes]:
    if m.settings.cmgf == 1:
        prefix = "+CMGL: " if index is not None else "+CMGR: "
        data, dcs, length = text_mode.body_to_te(m.settings.cscs, msg.text)
        return [prefix + _header_text(m, index, msg, dcs, length), data]
    if index is None:
        return [f"+CMGR: {msg.stat},,{msg.tpdu_length}", msg.pdu]
    return [f"+CMGL: {index},{msg.stat},,{msg.tpdu_length}", msg.pdu]


@command("+CMGL")
def cmgl(m: Interpreter, c: Command) -> Reply:
    if c.op == "test":
        if m.settings.cmgf == 1:
            return Reply(lines=['+CMGL: ("REC UNREAD","REC READ","STO UNSENT","STO SENT","ALL")'])
        return Reply(lines=["+CMGL: (0-4)"])
    _require_sms(m)
    if m.settings.cmgf == 1:
        wanted_text = c.str_arg(0, "REC UNREAD").upper() if c.op == "set" else "REC UNREAD"
        if wanted_text not in st.STAT_NUM:
            raise CmsError(302)
        wanted = st.STAT_NUM[wanted_text]
    else:
        wanted = c.int_arg(0, 0) if c.op == "set" else 0
        if wanted not in st.STAT_TEXT:
            raise CmsError(302)
    peek = c.op == "set" and c.int_arg(1, 0) == 1
    lines: list[str | bytes] = []
    for index, msg in _read_store(m).items():
        if wanted != 4 and msg.stat != wanted:
            continue
        lines += _render(m, index, msg)
        if not peek and msg.stat == 0:
            msg.stat = 1
    return Reply(lines=lines)


@command("+CMGD")
def cmgd(m: Interpreter, c: Command) -> Reply:
    if c.op == "test":
        store = _read_store(m)
        return Reply(lines=[f"+CMGD: ({','.join(str(i) for i, _ in store.items())}),(0-4)"])
    if c.op != "set":
        raise AtError()
    _require_sms(m)
    index = c.int_arg(0)
    flag = c.int_arg(1, 0)
    store = _read_store(m)
    if flag == 0:
        if not 1 <= index <= store.capacity:
            raise CmsError(321)
        store.delete(index)
        return Reply()
    doomed = {1: {1}, 2: {1, 3}, 3: {1, 2, 3}, 4: {0, 1, 2, 3}}.get(flag)
    if doomed is None:
        raise CmsError(302)
    for i, msg in store.items():
        if msg.stat in doomed:
            store.delete(i)
    return Reply()


@command("+CMGDA")
def cmgda(m: Interpreter, c: Command) -> Reply:
    if c.op != "set":
        return Reply()
    _require_sms(m)
    kind = c.str_arg(0).upper()
    doomed = {
        "DEL READ": {1}, "DEL UNREAD": {0}, "DEL SENT": {3}, "DEL UNSENT": {2}, "DEL INBOX": {0, 1},
        "DEL ALL": {0, 1, 2, 3}, "1": {1}, "2": {0}, "3": {3}, "4": {2}, "5": {0, 1}, "6": {0, 1, 2, 3},
    }.get(kind)  # fmt: skip
    if doomed is None:
        raise CmsError(302)
    store = _read_store(m)
    for i, msg in store.items():
        if msg.stat in doomed:
            store.delete(i)
    return Reply()
