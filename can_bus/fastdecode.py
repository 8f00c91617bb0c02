"""The ingest hot path: a profile compiled into one small Python function per CAN ID.

Why generated code: a fully loaded 1 Mbit/s bus is ~8,000 frames/s and a Pi Zero runs Python
several times slower than a PC, so per-frame cost matters. cantools walks generic signal objects
for every frame; here each used message becomes straight-line code (one int.from_bytes, then a
shift and mask per signal, the profile's conversion inlined) that returns only metrics whose value
changed. A frame whose bytes equal the previous frame of that ID returns at once, and a field whose
bits did not move since that frame is not converted again. Unknown IDs cost one dict lookup.
Messages with float or DBC-multiplexed signals fall back to cantools. Signals that would not fit
the frame are refused when the profile loads (`profile.signal_fits`), so no check runs per frame.
Computed metrics (`can_bus.computed`) wrap only the functions of messages that carry their inputs.

`Profile.reference_decode` is the slow path the tests compare this against (hypothesis).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal

from cantools.database.can import Message, Signal

from can_bus.computed import Combiner
from can_bus.profile import (
    MISSING,
    MetricSpec,
    ProfileError,
    _choice_table,
    convert,
    decode_signals,
    is_multiplexed,
    signal_fits,
)

if TYPE_CHECKING:
    from can_bus.profile import Profile

log = logging.getLogger(__name__)

Update = tuple[str, Any]
FrameFn = Callable[[bytes | bytearray], list[Update]]  # a driver may hand a reused bytearray
# feed_burst(frames, now, apply, heard): see `Decoder._make_feed_burst`
BurstFeed = Callable[[Iterable[tuple[int, bytes | bytearray]], float, Callable[[list[Update], float], object],
                      Callable[[int], object]], None]

# After this many reports per CAN ID, malformed frames are only counted (a babbling node must not
# flood the log); one more line every LOG_EVERY.
LOG_FIRST = 3
LOG_EVERY = 1000


class DecoderStats:
    """Counters a person reads when the numbers look wrong."""

    __slots__ = ("frames", "unknown", "malformed", "unmapped")

    def __init__(self) -> None:
        self.frames = 0
        self.unknown = 0
        self.malformed = 0
        self.unmapped = 0

    def as_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in self.__slots__}

    def __repr__(self) -> str:
        return f"DecoderStats({self.as_dict()})"


class _AllBits:
    """Initial 'previous frame integer': `value ^ _AllBits()` is -1, every field has changed."""

    def __rxor__(self, other: int) -> int:
        return -1


class _Unset:
    """Initial 'last value': never equal to anything, so the first frame emits every metric."""

    def __eq__(self, other: object) -> bool:
        return False

    def __ne__(self, other: object) -> bool:
        return True

    __hash__ = None  # type: ignore[assignment]


class Decoder:
    """Stateful: remembers the last value of each metric to emit only changes."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.stats = DecoderStats()
        self._bad_per_id: dict[int, int] = {}
        self._fns: dict[int, FrameFn] = {}
        self._forget: list[Callable[[], None]] = []
        # Compiled IDs -> their frame length: a frame of exactly that length whose bytes equal that ID's
        # previous frame returns [] at once (the compiled function's first test), so `feed_burst`
        # answers it without the call.
        self._same_returns_nothing: dict[int, int] = {}
        by_message: dict[str, list[MetricSpec]] = {}
        for spec in profile.metrics + profile.hidden:
            by_message.setdefault(spec.message, []).append(spec)
        # Computed metrics: hidden input name -> [(combiner, input index)].
        routes: dict[str, list[tuple[Combiner, int]]] = {}
        for cspec in profile.computed:
            combiner = Combiner(cspec)
            self._forget.append(combiner.reset)
            for index, name in enumerate(cspec.inputs):
                routes.setdefault(name, []).append((combiner, index))
        for name, specs in by_message.items():
            message = profile.message(name)
            for spec in specs:
                if not signal_fits(message.get_signal_by_name(spec.signal), message.length):
                    raise ProfileError(f"profile {profile.name}: {name}.{spec.signal} does not fit its message")
            wrap = _combine(routes) if any(s.metric in routes for s in specs) else _same
            if is_multiplexed(message) or any(s.is_float for s in message.signals):
                fn = wrap(self._slow_fn(message, specs))
            else:
                fn = self._compile(message, specs, wrap)
                self._same_returns_nothing[message.frame_id] = message.length
            self._fns[message.frame_id] = fn
        self.ids = frozenset(self._fns)
        # `feed(arbitration_id, data)`: metric updates this frame causes, [(metric, value)] for values
        # that changed only. A closure rather than a method: every frame pays for the lookups.
        self.feed: Callable[[int, bytes | bytearray], list[Update]] = self._make_feed()
        self.feed_burst: BurstFeed = self._make_feed_burst()

    def _make_feed(self) -> Callable[[int, bytes | bytearray], list[Update]]:
        """`feed` as a closure: every frame pays for it, and closure cells are cheaper than `self.`

        `reset` replaces entries of the same `_fns` dict, so the bound `get` stays current.
        """
        get = self._fns.get
        stats = self.stats

        def feed(arbitration_id: int, data: bytes | bytearray) -> list[Update]:
            fn = get(arbitration_id)
            if fn is None:
                stats.unknown += 1
                return []
            stats.frames += 1
            return fn(data)

        feed.__doc__ = "Metric updates this frame causes: [(metric, value)] for values that changed only."
        return feed

    def _make_feed_burst(self) -> BurstFeed:
        """`feed_burst` as a closure, for the simulated world's in-memory CAN link (a car repeats the
        same frames, as cached `bytes` objects, 100 times a second).

        Exactly `feed` frame by frame: a frame equal to the last one its compiled function accepted
        (right length, `bytes`) is counted and skipped here, where the function would have returned
        [] as its first act. `reset` forgets those frames as the functions forget theirs.
        """
        get = self._fns.get
        stats = self.stats
        lengths = self._same_returns_nothing.get
        last: dict[int, bytes | None] = {}
        last_get = last.get
        self._forget.append(last.clear)

        def feed_burst(frames: Iterable[tuple[int, bytes | bytearray]], now: float,
                       apply: Callable[[list[Update], float], object], heard: Callable[[int], object]) -> None:
            for arbitration_id, data in frames:
                heard(arbitration_id)
                if data == last_get(arbitration_id):
                    stats.frames += 1
                    continue
                fn = get(arbitration_id)
                if fn is None:
                    stats.unknown += 1
                    continue
                stats.frames += 1
                last[arbitration_id] = None
                try:
                    updates = fn(data)
                    if data.__class__ is bytes and len(data) == lengths(arbitration_id):
                        last[arbitration_id] = data  # what the function now holds as its last frame
                    if updates:
                        apply(updates, now)
                except Exception:  # a decoder or listener bug must not stop the bus
                    log.exception("CAN 0x%X: frame handling failed; the rest of the burst follows", arbitration_id)

        feed_burst.__doc__ = ("`feed` for each frame of a burst received at `now`: `heard(id)` for every frame, "
                              "`apply(updates, now)` for each frame that changed something; a frame whose "
                              "handling fails is logged and the burst goes on.")
        return feed_burst

    def reset(self) -> None:
        """Forget last values (e.g. after a bus outage) so the next frames report everything."""
        for forget in self._forget:
            forget()

    # -- malformed input --------------------------------------------------------------------------
    def _bad(self, arbitration_id: int, data: bytes | bytearray, why: str) -> list[Update]:
        self.stats.malformed += 1
        n = self._bad_per_id.get(arbitration_id, 0) + 1
        self._bad_per_id[arbitration_id] = n
        if n <= LOG_FIRST or n % LOG_EVERY == 0:
            log.warning("CAN 0x%X: malformed frame (%s) %s; ignored (%d so far from this ID)",
                        arbitration_id, why, bytes(data).hex(), n)
        return []

    def _unmapped(self) -> None:
        self.stats.unmapped += 1

    # -- compilation ------------------------------------------------------------------------------
    def _compile(self, message: Message, specs: list[MetricSpec],
                 wrap: Callable[[FrameFn], FrameFn]) -> FrameFn:
        """Generate `make()`, which returns a fresh frame function; last values live in its cells."""
        length = message.length
        env: dict[str, Any] = {
            "_fb": int.from_bytes, "_bad": self._bad, "_unmapped": self._unmapped,
            "_MISS": MISSING, "_round": round, "_int": int, "_len": len, "_bytes": bytes,
            "_UNSET": _Unset(), "_AP": _AsciiParts,
        }
        fid = message.frame_id
        n = len(specs)
        cells = ", ".join(["ld"] + [f"l{i}" for i in range(n)])
        orders = {s.byte_order for s in message.signals}
        # One byte order: XOR with the previous frame's integer says which fields moved, so a
        # field whose bits did not change is skipped without converting it (same bits, same
        # value). Mapped and ascii fields are always evaluated (unmapped counting, part state).
        diff = "vl" if orders == {"little_endian"} else "vb" if orders == {"big_endian"} else None
        if diff is not None:
            cells += ", lv"
            env["_ALL"] = _AllBits()
        lines = ["def make():", "    ld = None"]
        if diff is not None:
            lines.append("    lv = _ALL")
        lines += [f"    l{i} = _UNSET" for i in range(n)]
        for i, spec in enumerate(specs):
            if spec.type == "ascii":
                sig = message.get_signal_by_name(spec.signal)
                lines.append(f"    A{i} = _AP({spec.parts}, {sig.length // 8}, {sig.byte_order!r})")
        lines += [
            "    def frame(data, _fb=_fb, _len=_len, _bytes=_bytes):",
            f"        nonlocal {cells}",
            "        if data == ld:",
            "            return []",
            f"        if _len(data) != {length}:",
            f"            if _len(data) < {length}:",
            f"                return _bad({fid}, data, 'DLC ' + str(_len(data)) + ' < {length}')",
            f"            data = data[:{length}]",
            "        ld = data if data.__class__ is _bytes else _bytes(data)  # a snapshot; bytes() of bytes is slow",
        ]
        if any(s.byte_order == "little_endian" for s in message.signals):
            lines.append("        vl = _fb(data, 'little')")
        if any(s.byte_order == "big_endian" for s in message.signals):
            lines.append("        vb = _fb(data, 'big')")
        if diff is not None:
            lines.append(f"        d = {diff} ^ lv")
            lines.append(f"        lv = {diff}")
        lines.append("        out = []")
        for i, spec in enumerate(specs):
            sig = message.get_signal_by_name(spec.signal)
            raw = _raw_expr(sig, length)
            ind = "        "
            if diff is not None and spec.type != "ascii" and spec.map is None and spec.type != "choice":
                lines.append(f"        if d & {_field_mask(sig, length):#x}:")
                ind = "            "
            if spec.type == "ascii":
                mux = message.get_signal_by_name(spec.mux)  # type: ignore[arg-type]
                lines.append(f"        x = A{i}.put({_raw_expr(mux, length)}, {raw})")
                lines.append(f"        if x is not None and x != l{i}:")
            else:
                table = spec.map if spec.map is not None else (
                    _choice_table(sig) if spec.type == "choice" else None)
                if table is not None:
                    env[f"M{i}"] = table
                    lines.append(f"        x = M{i}.get({raw}, _MISS)")
                    lines.append("        if x is _MISS:")
                    lines.append("            _unmapped()")
                    lines.append(f"        elif x != l{i}:")
                else:
                    lines.append(f"{ind}x = {_value_expr(spec, sig, raw, env, i)}")
                    lines.append(f"{ind}if x != l{i}:")
            lines.append(f"{ind}    l{i} = x")
            lines.append(f"{ind}    out.append(({spec.metric!r}, x))")
        lines.append("        return out")
        lines.append("    return frame")
        source = "\n".join(lines)
        code = compile(source, f"<profile {self.profile.name} {message.name}>", "exec")
        exec(code, env)  # noqa: S102 - source built above from numbers and names we validated
        make = env["make"]
        fns = self._fns

        def forget() -> None:
            fns[fid] = wrap(make())

        self._forget.append(forget)
        fn = make()
        fn.source = source  # for people debugging a profile
        wrapped = wrap(fn)
        wrapped.source = source  # type: ignore[attr-defined]
        return wrapped

    def _slow_fn(self, message: Message, specs: list[MetricSpec]) -> FrameFn:
        last: dict[str, Any] = {}
        signals = {s.name: s for s in message.signals}
        self._forget.append(last.clear)

        def frame(data: bytes | bytearray) -> list[Update]:
            try:
                decoded = decode_signals(message, data, decode_choices=False)
            except Exception as exc:
                return self._bad(message.frame_id, data, str(exc))
            out = []
            for spec in specs:
                if spec.signal not in decoded or spec.type == "ascii":
                    continue
                value = convert(spec, decoded[spec.signal], signals[spec.signal])
                if value is MISSING:
                    self._unmapped()
                elif last.get(spec.metric, MISSING) is MISSING or last[spec.metric] != value:
                    last[spec.metric] = value
                    out.append((spec.metric, value))
            return out

        return frame


def _same(fn: FrameFn) -> FrameFn:
    return fn


def _combine(routes: dict[str, list[tuple[Combiner, int]]]) -> Callable[[FrameFn], FrameFn]:
    """Wrap a frame function whose updates include computed metrics' hidden inputs: those go to
    their combiners (never out), and a computed metric comes out when its value changes."""

    def wrap(fn: FrameFn) -> FrameFn:
        get = routes.get

        def frame(data: bytes | bytearray) -> list[Update]:
            out = []
            for name, value in fn(data):
                targets = get(name)
                if targets is None:
                    out.append((name, value))
                    continue
                for combiner, index in targets:
                    result = combiner.put(index, value)
                    if result is not None:
                        out.append((combiner.spec.metric, result))
            return out

        return frame

    return wrap


def _raw_expr(sig: Signal, length: int) -> str:
    """Expression extracting the raw integer of `sig` from vl/vb (little/big-endian frame ints)."""
    mask = (1 << sig.length) - 1
    if sig.byte_order == "little_endian":
        shift, var = sig.start, "vl"
    else:
        # DBC Motorola: start is the MSB, numbered byte*8 + bit; in a big-endian int of the frame,
        # bit b of byte k sits at (length-1-k)*8 + b.
        msb = (length - 1 - sig.start // 8) * 8 + sig.start % 8
        shift, var = msb - (sig.length - 1), "vb"
    expr = f"(({var} >> {shift}) & {mask:#x})" if shift else f"({var} & {mask:#x})"
    if sig.is_signed:
        sign = 1 << (sig.length - 1)
        expr = f"(({expr} ^ {sign:#x}) - {sign:#x})"
    return expr


def _value_expr(spec: MetricSpec, sig: Signal, raw: str, env: dict[str, Any], i: int) -> str:
    """Same result as `profile.convert` after cantools scaling (bit-equal floats, checked by tests).

    Two shortcuts where the result is provably identical: integer scale and offset stay integers
    (no round), and a scale of 1/N whose quotients have no more decimals than the profile rounds to
    becomes an exact division (`(raw + offset*N) / N` is the correctly rounded decimal, which is
    what round() would return while values are small enough, i.e. below 2**49 / 10**round),
    saving round()'s decimal conversion on the hot path.
    """
    if spec.type == "bool":
        return f"{raw} != 0" if sig.offset == 0 else f"({raw} * {sig.scale!r} + {sig.offset!r}) != 0"
    plain = spec.scale == 1 and spec.offset == 0
    ints = all(type(v) is int for v in (sig.scale, sig.offset, spec.scale, spec.offset))
    if ints:
        expr = _int_affine(raw, sig.scale, sig.offset)
        if not plain:
            expr = _int_affine(expr, spec.scale, spec.offset)
        return expr
    divisor = _exact_divisor(sig.scale, sig.offset, spec.round) if plain and spec.type == "float" else None
    if divisor is not None and ((1 << sig.length) / divisor + abs(sig.offset)) * 10 ** (spec.round or 0) >= 2 ** 49:
        # cantools' float product raw * scale is a few ulp from raw / N; round() hides that only
        # while an ulp stays well below half the last decimal (else it is off by one ulp).
        divisor = None
    if divisor is not None:
        shift = int(sig.offset) * divisor
        return f"(({raw} + {shift}) / {divisor})" if shift else f"({raw} / {divisor})"
    expr = raw
    if not (sig.scale == 1 and sig.offset == 0):
        expr = f"({expr} * {_const(sig.scale, f'S{i}', env)} + {_const(sig.offset, f'O{i}', env)})"
    if not plain:
        expr = f"({expr} * {_const(spec.scale, f'PS{i}', env)} + {_const(spec.offset, f'PO{i}', env)})"
    if spec.type == "int":
        return f"_int(_round({expr}))"
    if spec.round is not None:
        return f"_round({expr}, {int(spec.round)})"
    return expr


def _field_mask(sig: Signal, length: int) -> int:
    """The bits of `sig` in the frame integer `_raw_expr` reads it from."""
    if sig.byte_order == "little_endian":
        shift = sig.start
    else:
        shift = (length - 1 - sig.start // 8) * 8 + sig.start % 8 - (sig.length - 1)
    return ((1 << sig.length) - 1) << shift


def _int_affine(expr: str, scale: int | float, offset: int | float) -> str:
    """`expr * scale + offset` for integers, leaving out a multiply by 1 or an add of 0."""
    if scale != 1:
        expr = f"({expr} * {scale})"
    if offset:
        expr = f"({expr} + {offset})"
    return expr


def _exact_divisor(scale: Any, offset: Any, ndigits: int | None) -> int | None:
    """N if scale == 1/N exactly enough and N divides 10**ndigits (so raw/N needs no rounding)."""
    if ndigits is None or ndigits < 0 or not scale or float(offset) != int(offset):
        return None
    n = round(1 / scale)
    if n < 2 or n * scale != 1.0 or (10 ** ndigits) % n:
        return None
    return n


def _const(value: Any, name: str, env: dict[str, Any]) -> str:
    """A number as a literal in the source (exact: repr of int/float round-trips), else a global."""
    if type(value) in (int, float) and value == value and abs(value) != float("inf"):
        return f"({value!r})"
    env[name] = value
    return name


class _AsciiParts:
    """Reassembles a string sent in numbered parts (a VIN in three frames)."""

    __slots__ = ("parts", "width", "order", "chunks")

    def __init__(self, parts: int, width: int, byte_order: str) -> None:
        self.parts = parts
        self.width = width
        self.order: Literal["little", "big"] = "little" if byte_order == "little_endian" else "big"
        self.chunks: list[bytes | None] = [None] * parts

    def put(self, index: int, raw: int) -> str | None:
        if index >= self.parts:
            return None
        self.chunks[index] = raw.to_bytes(self.width, self.order)
        if any(c is None for c in self.chunks):
            return None
        text = b"".join(self.chunks).rstrip(b"\0 ")  # type: ignore[arg-type]
        return text.decode("ascii", "replace")
