"""The profile built on a real, publicly licensed DBC (opendbc's hyundai_2015_mcan.dbc, MIT).

Frames are built with cantools from the vendored DBC itself (as the car's ECUs would put them on
the bus), then decoded through the profile's compiled fast path.
"""

from __future__ import annotations

import cantools

from can_bus import load_profile
from can_bus.car import VirtualCar
from can_bus.memory import frame_link
from runtime import VirtualLoop

PROFILE = load_profile("hyundai-kia-mcan")
DB = cantools.database.load_file(str(PROFILE.path / "hyundai_2015_mcan.dbc"))


def frame(name: str, **signals) -> tuple[int, bytes]:
    message = DB.get_message_by_name(name)
    values = {s.name: 0 for s in message.signals}
    values.update(signals)
    return message.frame_id, bytes(message.encode(values, strict=False))


def test_vendored_dbc_and_licence_are_present() -> None:
    assert (PROFILE.path / "LICENSE.opendbc").read_text().startswith("Copyright (c) 2020, Comma.ai")
    assert len(DB.messages) > 100  # the whole real file, unchanged


def test_what_the_real_dbc_profile_decodes() -> None:
    decoder = PROFILE.decoder()
    out: dict = {}
    for fid, data in [
        frame("CLU_HU_P_00", MM_CR_Bms_Soc_Pc=83, MM_CR_Mcu_VehSpd_Kph=57),
        frame("CLU_HU_P_05", Clu_DTE=142),
        frame("CLU_HU_P_02", MM_CR_Clu_Odometer_kph=23456.7),
        frame("CLU_HU_P_04", MM_CR_BmsChgExp_T_Slow=245),
        frame("GW_DDM_PE", C_DRVDoorStatus=1, C_ASTDoorStatus=0, C_RLDoorStatus=0, C_RRDoorStatus=1,
              C_TrunkStatus=1),
        frame("GW_IPM_PE_2", C_DRVUnlockState=0),
        frame("DATC_P_02", DATC_AmbientTemp_C=14),
    ]:
        out.update(decoder.feed(fid, data))
    assert out == {
        "v.b.soc": 83, "v.p.speed": 57, "v.b.range.est": 142, "v.p.odometer": 23456.7,
        "v.c.duration.full": 245, "v.d.fl": True, "v.d.fr": False, "v.d.rl": False, "v.d.rr": True,
        "v.d.trunk": True, "v.e.locked": True, "v.e.temp": 14,
    }
    # Frames of the same DBC the profile does not use cost a dict lookup and say nothing.
    fid, data = frame("TMU_HU_E_01")
    assert decoder.feed(fid, data) == []
    assert decoder.stats.unknown == 1 and decoder.stats.malformed == 0


def test_real_dbc_lock_command_is_the_tmu_request_frame() -> None:
    assert PROFILE.commands == ("lock", "unlock")
    [(fid, data)] = PROFILE.encode_command("lock")
    message = DB.get_message_by_frame_id(fid)
    assert message.name == "TMU_GW_E_01"
    assert message.decode(data)["C_ReqDrLock"] == 1 and message.decode(data)["C_ReqDrUnlock"] == 0


def test_virtual_car_speaks_the_real_dbc_too() -> None:
    loop = VirtualLoop(seed=5)
    car_port, unit_port = frame_link(loop)
    car = VirtualCar(loop, car_port, PROFILE, rate=0.5)
    decoder = PROFILE.decoder()
    metrics: dict = {}
    unit_port.set_handler(lambda i, d, t: metrics.update(decoder.feed(i, d)))
    car.do("drive")
    loop.run(until=60.0)
    assert metrics["v.p.speed"] > 0 and metrics["v.e.locked"] is False
    assert abs(metrics["v.b.soc"] - car.s.soc) <= 1
    [(fid, data)] = PROFILE.encode_command("lock")
    unit_port.send(fid, data)
    loop.run(until=62.0)
    assert metrics["v.e.locked"] is True
