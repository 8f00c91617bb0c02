"""Child process for the SIGKILL test: works the outbox at full speed and reports each committed step.

The test forks and calls `work` (fast); standalone: python outbox_crash_child.py DB RUN_NUMBER SEED. One journal line per committed operation,
printed (and flushed) only after the operation returned, so every line is a promise the database must keep.
"""

from __future__ import annotations

import random
import sys
from typing import TextIO

from tcu.outbox import Outbox


def main() -> None:
    work(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.stdout)


def work(db: str, run: int, seed: int, out: TextIO) -> None:
    """Never returns: loops until the process is killed."""
    rng = random.Random(seed)
    ob = Outbox(db)
    out.write("READY\n")
    out.flush()
    conn_no, line, k, now = run, 0, 0, float(run * 1000)
    while True:
        now += 1.0
        batch = [("alert", f"r{run}-{k + j}", None) for j in range(rng.randint(1, 3))]
        k += len(batch)
        for item in ob.add_many(batch, now):
            out.write(f"A {item.id} {item.payload}\n")
        out.flush()
        todo = [i.id for i in ob.to_send(conn_no, limit=5)]
        if rng.random() < 0.1:
            todo.append(1)  # a stale duplicate send of an old (maybe delivered) item must not reopen it
        if todo:
            ob.mark_sent(todo, conn_no, line, now)
            line += len(todo)
            out.write(f"S {conn_no} {line - len(todo)} {' '.join(map(str, todo))}\n")
            out.flush()
        if line and rng.random() < 0.5:
            upto = rng.randrange(line)
            done = ob.confirm_upto(conn_no, upto, now)
            out.write(f"C {' '.join(map(str, done))}\n")
            out.flush()
        if rng.random() < 0.2:
            sent = [i.id for i in ob.pending() if i.state == "sent"]
            done = ob.confirm(rng.sample(sent, min(2, len(sent))), "server", now)
            out.write(f"C {' '.join(map(str, done))}\n")
            out.flush()


if __name__ == "__main__":
    main()
