"""The shared JSON-lines control socket: answers, refusals, bad input and an absent device."""

from __future__ import annotations

import threading

import pytest

from runtime import RealLoop
from runtime.control import ControlError, JsonLineServer, call


def _handler(req: dict) -> dict:
    if req["cmd"] == "boom":
        raise RuntimeError("handler bug")
    if req["cmd"] == "echo":
        return {"ok": True, "echo": req.get("text")}
    return {"ok": False, "error": "unknown"}


def test_requests_answers_and_bad_input(tmp_path) -> None:
    loop = RealLoop(seed=1)
    path = str(tmp_path / "ctl")
    server = JsonLineServer(loop, path, _handler)
    thread = threading.Thread(target=loop.run, kwargs={"until": loop.time() + 10}, daemon=True)
    thread.start()
    try:
        assert call(path, {"cmd": "echo", "text": "hi"}) == {"ok": True, "echo": "hi"}
        assert call(path, {"cmd": "nope"})["ok"] is False
        answer = call(path, {"cmd": "boom"})  # a handler bug answers; the server keeps serving
        assert answer["ok"] is False and "handler bug" in answer["error"]
        assert call(path, {"cmd": "echo", "text": "still here"})["echo"] == "still here"
        assert server.answer(b"[1, 2]").startswith(b'{"ok": false, "error": "bad JSON')
        assert server.answer(b"\xff\xfe").startswith(b'{"ok": false')
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        server.close()
        loop.close()
    with pytest.raises(ControlError, match="cannot reach"):
        call(path, {"cmd": "echo"}, timeout=1)
