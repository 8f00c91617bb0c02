"""Password guessing against `tcu-server serve` over real loopback sockets, as an attacker would do it.

Attackers on 127.0.0.2..9 (Linux routes all of 127/8 to lo) race through a list of guesses with four
connections per address; the right password is guess number 300. Meanwhile the real car, on
127.0.0.1, must still get in, and the server's log must not grow a line per attempt.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

from car_link import CarLink
from real_server import real_server, run_until

from ovms_v2.crypto import digest
from runtime import RealLoop
from tcu.ovms.car_client import CarSession, LoggedIn
from tools.server.login_guard import DEFAULT_POLICY

PASSWORD = "right-horse-battery"
ADDRESSES = [f"127.0.0.{i}" for i in range(2, 10)]
PER_ADDRESS = 4
RIGHT_AT = 300
ATTACK = 8.0



class Attacker:
    def __init__(self, port: int) -> None:
        self.port = port
        self.guesses = [f"guess{i}" for i in range(1000)]
        self.guesses[RIGHT_AT] = PASSWORD
        self.next = 0
        self.tried = 0
        self.found: str | None = None
        self.lock = threading.Lock()
        self.stop = time.monotonic() + ATTACK

    def take(self) -> str | None:
        with self.lock:
            if self.found or self.next >= len(self.guesses) or time.monotonic() > self.stop:
                return None
            self.next += 1
            return self.guesses[self.next - 1]

    def worker(self, address: str) -> None:
        while (guess := self.take()) is not None:
            with socket.socket() as s:
                s.settimeout(max(0.1, self.stop - time.monotonic()))
                try:
                    s.bind((address, 0))
                    s.connect(("127.0.0.1", self.port))
                    s.sendall(f"MP-C 0 tok{guess} {digest(guess, 'tok' + guess)} GUESSCAR\r\n".encode())
                    answer = s.recv(200)
                except OSError:
                    continue
            with self.lock:
                self.tried += 1
                if answer.startswith(b"MP-S 0"):
                    self.found = guess


def test_guessing_is_slowed_and_locked_out_while_the_real_car_gets_in(tmp_path: Path) -> None:
    with real_server(tmp_path, {"GUESSCAR": PASSWORD}) as server:
        attacker = Attacker(server.port)
        threads = [threading.Thread(target=attacker.worker, args=(a,), daemon=True)
                   for a in ADDRESSES for _ in range(PER_ADDRESS)]
        for t in threads:
            t.start()
        time.sleep(1.0)                                   # the attack is under way
        loop = RealLoop()
        session = CarSession("GUESSCAR", PASSWORD, None, loop.time())
        car = CarLink(loop, "127.0.0.1", server.port, session, lambda: {"v.b.soc": 61}, lambda lk, ev: None)
        started = time.monotonic()
        car.connect()
        run_until(loop, lambda: any(isinstance(e, LoggedIn) for e in car.events),
                  timeout=DEFAULT_POLICY.max_delay + 10)
        car_login = time.monotonic() - started
        for t in threads:
            t.join(timeout=ATTACK + 15)
        car.close()
        loop.close()
    lines = server.log_lines()                            # after shutdown: with the stats line
    print(f"attacker: {attacker.next} guesses sent in {ATTACK:.0f} s, found={attacker.found}; "
          f"car logged in after {car_login:.2f} s; {len(lines)} log lines")
    assert attacker.found is None, "the attacker must not reach guess 300 in 8 s"
    assert car_login <= DEFAULT_POLICY.max_delay + 5      # the capped delay, plus a loaded machine
    # Checked guesses are bounded: 10 per address before its lockout (stats are logged at shutdown).
    stats = next(line for line in lines if "server stats:" in line)
    failed = int(stats.split("logins_failed ")[1].split(",")[0])
    assert failed <= DEFAULT_POLICY.lockout_after * len(ADDRESSES) + PER_ADDRESS * len(ADDRESSES)
    assert len(lines) <= 25, "\n".join(lines)             # no line per attempt
