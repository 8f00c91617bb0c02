"""The server seam (issue 18): per-server delivery records in the outbox, one link per server with its
own back-off, the unit reporting to OVMS v2, MQTT or both."""

from __future__ import annotations

from pathlib import Path

from tcu.outbox import Outbox


def state(ob: Outbox, item_id: int) -> str:
    item = ob.get(item_id)
    assert item is not None
    return item.state


def test_the_outbox_records_delivery_per_server_and_keeps_it_across_a_restart(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.sqlite")
    ob.set_servers(["ovms", "mqtt"], 0.0)
    a, b = ob.add_many([("alert", "one", "al-1"), ("history", "two", None)], 1.0)
    assert [i.id for i in ob.to_send(11, server="ovms")] == [a.id, b.id]
    ob.mark_sent([a.id, b.id], 11, 0, 2.0, server="ovms")
    ob.mark_sent([a.id], 21, 0, 2.0, server="mqtt")
    assert ob.to_send(11, server="ovms") == []                        # written on this connection
    assert [i.id for i in ob.to_send(21, server="mqtt")] == [b.id]
    assert ob.confirm([a.id, b.id], "server", 3.0, server="ovms") == []   # MQTT has not confirmed yet
    assert state(ob, a.id) != "delivered"
    assert ob.to_send(12, server="ovms") == []                        # OVMS has them: never again there
    ob.close()

    ob = Outbox(tmp_path / "o.sqlite")                                # a restart (or a SIGKILL)
    ob.set_servers(["ovms", "mqtt"], 4.0)
    assert ob.to_send(13, server="ovms") == []
    assert [i.id for i in ob.to_send(22, server="mqtt")] == [a.id, b.id]   # a new MQTT connection
    assert ob.confirm([a.id], "server", 5.0, server="mqtt") == [a.id]
    assert state(ob, a.id) == "delivered" and ob.queued_count() == 1


def test_a_server_dropped_from_the_configuration_no_longer_holds_items_back(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.sqlite")
    ob.set_servers(["ovms", "mqtt"], 0.0)
    (a,) = ob.add_many([("alert", "one", "al-1")], 1.0)
    ob.mark_sent([a.id], 11, 0, 2.0, server="ovms")
    ob.confirm([a.id], "server", 3.0, server="ovms")
    assert ob.queued_count() == 1
    ob.set_servers(["ovms"], 4.0)
    assert ob.queued_count() == 0 and state(ob, a.id) == "delivered"


def test_one_server_confirms_as_before(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.sqlite")
    ob.set_servers(["mqtt"], 0.0)
    (a,) = ob.add_many([("alert", "one", "al-1")], 1.0)
    ob.mark_sent([a.id], 11, 0, 2.0, server="mqtt")
    assert ob.confirm([a.id], "server", 3.0, server="mqtt") == [a.id]
    assert ob.to_send(12, server="mqtt") == [] and ob.queued_count() == 0
