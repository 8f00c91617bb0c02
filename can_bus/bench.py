"""Ingest throughput: `Decoder.feed` against cantools `decode_message` on the same frames.

Used by tools/bench (issue 8). The frame mix is what a bus looks like: each message at its DBC rate
(GenMsgCycleTime / profile periods), its values walking through successive states the way a car's
do, so a fast message often repeats its previous bytes and a slow one rarely does; messages in the
DBC that the profile does not use appear too (the unit must skip them cheaply, cantools decodes them).
"""

from __future__ import annotations

import random
import time
from typing import Any

from can_bus.profile import Profile, load_profile, physical_range

STATES_PER_MESSAGE = 64


def frame_mix(profile: Profile, n_frames: int, seed: int = 1, hold: int = 2) -> list[tuple[int, bytes]]:
    """A deterministic, rate-weighted sequence of frames for `profile`.

    Messages sent at 10 Hz or faster keep each state for `hold` frames (a car's 50 Hz speed frame
    does not change every 20 ms); hold=1 makes every frame differ from its predecessor.
    """
    rng = random.Random(seed)
    commands = {f.message for c in profile.command_specs.values() for f in c.frames}
    messages = [m for m in profile.db.messages if m.name not in commands and m.length <= 8]
    pools: list[list[bytes]] = []
    weights: list[float] = []
    for message in messages:
        values = {}
        for sig in message.signals:
            lo, hi = physical_range(sig)
            values[sig.name] = rng.uniform(lo, hi) if sig.length > 1 else rng.randint(0, 1)
        pool = []
        for _ in range(STATES_PER_MESSAGE):
            # A random walk: most signals hold still between frames, a few move a little.
            wide = [s for s in message.signals if s.length > 2] or message.signals
            must = rng.choice(wide)
            for sig in message.signals:
                if sig is must or rng.random() < 0.3:
                    lo, hi = physical_range(sig)
                    step = max((hi - lo) * 0.01, abs(sig.scale) * 2)
                    values[sig.name] = min(max(values[sig.name] + rng.uniform(-step, step), lo), hi)
            raw = {s: v for s, v in values.items()}
            try:
                data = bytes(message.encode(raw, strict=False))
            except Exception:
                data = bytes(rng.getrandbits(8) for _ in range(message.length))
            pool.append(data)
        pools.append(pool)
        weights.append(1.0 / profile.period(message))
    positions = [0] * len(messages)
    picks = rng.choices(range(len(messages)), weights=weights, k=n_frames)
    frames = []
    for k in picks:
        step = hold if weights[k] >= 10 else 1
        pos = positions[k]
        positions[k] = pos + 1
        frames.append((messages[k].frame_id, pools[k][(pos // step) % STATES_PER_MESSAGE]))
    return frames


def bench_ingest(profile_name: str, n_frames: int = 200_000, seed: int = 1) -> dict[str, Any]:
    """Frames/s of Decoder.feed and of cantools decode_message on the same frame mix."""
    profile = load_profile(profile_name)
    frames = frame_mix(profile, n_frames, seed)
    decoder = profile.decoder()
    feed = decoder.feed
    updates = 0
    t0 = time.perf_counter()
    for fid, data in frames:
        updates += len(feed(fid, data))
    t_ours = time.perf_counter() - t0

    # Worst case: no frame repeats its predecessor, so the same-bytes shortcut never fires.
    changing = frame_mix(profile, n_frames, seed, hold=1)
    feed = profile.decoder().feed
    t0 = time.perf_counter()
    for fid, data in changing:
        feed(fid, data)
    t_changing = time.perf_counter() - t0

    decode = profile.db.decode_message
    n_ct = max(1, n_frames // 4)  # cantools is slow; a quarter of the frames gives a stable rate
    t0 = time.perf_counter()
    for fid, data in frames[:n_ct]:
        decode(fid, data)
    t_ct = time.perf_counter() - t0
    last: dict[int, bytes] = {}
    repeats = 0
    for fid, data in frames:
        repeats += last.get(fid) == data
        last[fid] = data
    ours = n_frames / t_ours
    theirs = n_ct / t_ct
    return {
        "profile": profile.name,
        "frames": n_frames,
        "decoder_fps": round(ours),
        "cantools_fps": round(theirs),
        "ratio": round(ours / theirs, 2),
        "decoder_fps_all_changing": round(n_frames / t_changing),
        "updates": updates,
        "repeat_fraction": round(repeats / max(1, len(frames)), 3),
        "decoder_stats": decoder.stats.as_dict(),
    }


if __name__ == "__main__":  # pragma: no cover
    import json
    import sys

    for name in sys.argv[1:] or ["demo-ev"]:
        print(json.dumps(bench_ingest(name)))
