"""The profile built on a real, publicly licensed DBC (opendbc's hyundai_2015_mcan.dbc, MIT).

Frames are built with cantools from the vendored DBC itself (as the car's ECUs would put them on
the bus), then decoded through the profile's compiled fast path.
"""

from __future__ import annotations

import cantools
from cantools.database.can import Database

from can_bus import load_profile
from can_bus.car import VirtualCar
from can_bus.fastdecode import Decoder
from can_bus.memory import frame_link
from can_bus.profile import Profile, decode_signals
from runtime import VirtualLoop

PROFILE = load_profile("hyundai-kia-mcan")
_DB = cantools.database.load_file(str(PROFILE.path / "hyundai_2015_mcan.dbc"))
assert isinstance(_DB, Database)
DB: Database = _DB


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
    decoded = decode_signals(message, data)
    assert decoded["C_ReqDrLock"] == 1 and decoded["C_ReqDrUnlock"] == 0


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


# -- the two profiles added for issue 14, each on a real opendbc DBC vendored unchanged ----------------
GM = load_profile("gm-volt-bolt-hv")
VW = load_profile("vw-mqb-egolf")


def real_frame(profile: Profile, name: str, **signals: float | str) -> tuple[int, bytes]:
    message = profile.message(name)
    values: dict[str, float | str] = {s.name: 0 for s in message.signals}
    values.update(signals)
    return message.frame_id, bytes(message.encode(values, strict=False))


def test_new_real_profiles_name_their_source_and_licence() -> None:
    for profile, dbc in ((GM, "gm_global_a_high_voltage_management.dbc"), (VW, "vw_mqb.dbc")):
        assert (profile.path / "LICENSE.opendbc").read_text().startswith("Copyright (c) 2020, Comma.ai")
        readme = (profile.path / "README.md").read_text()
        assert f"opendbc/dbc/{dbc}" in readme and "7343a66d46213d5f73528afc6c6db713ebd88a9d" in readme
        assert "assumed" in (profile.path / "profile.toml").read_text()


def test_gm_hv_pack_power_cells_and_temperatures() -> None:
    decoder = GM.decoder()
    out: dict = {}
    out.update(decoder.feed(*real_frame(GM, "Pack_Stats", Pack_Voltage=371.25, Pack_Current=-8.1)))
    assert out == {"v.b.voltage": 371.25, "v.b.current": -8.1, "v.b.power": round(371.25 * -8.1 * 0.001, 3)}
    cells = {}
    for module in range(1, 5):
        message = GM.message(f"Battery_Module_{module}")
        for page in range(8):
            values = {f"Voltage_{module}_{page}_{c}": 3.9 + 0.00125 * (module * 24 + page * 3 + i)
                      for i, c in enumerate("ABC")}
            cells.update(values)
            out.update(decoder.feed(*real_frame(GM, message.name, **{f"Cell_Bank_Number_{module}": page}, **values)))
    assert out["v.b.c.voltage.min"] == round(min(cells.values()), 4)
    assert out["v.b.c.voltage.max"] == round(max(cells.values()), 4)
    assert abs(out["v.b.p.voltage.avg"] - sum(cells.values()) / 96) < 1e-3
    temps = GM.message("Battery_temp")
    out.update(decoder.feed(*real_frame(GM, "Battery_temp", Switch=0, Temp_A=20, Temp_B=21, Temp_C=22, Temp_D=23,
                                        Temp_E=24, Temp_F=25)))
    assert "v.b.p.temp.avg" not in out  # page 1 (Temp_G..I) not seen yet
    out.update(decoder.feed(*real_frame(GM, temps.name, Switch=1, Temp_G=26, Temp_H=27, Temp_I=28.5)))
    assert out["v.b.p.temp.min"] == 20 and out["v.b.p.temp.max"] == 28.5 and out["v.b.temp"] == 24.1  # 216.5 / 9
    out.update(decoder.feed(*real_frame(GM, "Charger_status", Status="HV_and_LV")))
    assert out["v.c.charging"] is True and out["xgm.charger.status"] == "HV_and_LV"
    assert decoder.stats.malformed == 0 and decoder.stats.unmapped == 0


def test_gm_cell_statistics_wait_for_every_page() -> None:
    decoder = GM.decoder()
    for module in range(1, 5):
        for page in range(8):
            out = dict(decoder.feed(*real_frame(GM, f"Battery_Module_{module}", **{f"Cell_Bank_Number_{module}": page})))
            assert ("v.b.c.voltage.min" in out) == ((module, page) == (4, 7))


def test_vw_egolf_drive_doors_gear_and_vin() -> None:
    decoder = VW.decoder()
    out: dict = {}
    for fid, data in [
        real_frame(VW, "ESP_21", ESP_v_Signal=87.65),
        real_frame(VW, "Kombi_02", KBI_Kilometerstand=48213, KBI_Aussen_Temp_gef=7.5),
        real_frame(VW, "Kombi_01", KBI_Handbremse=1),
        real_frame(VW, "Motor_EV_01", MO_Waehlpos=6, HV_Bordnetz_aktiv=1),
        real_frame(VW, "Gateway_72", ZV_FT_offen=1, ZV_HD_offen=1),
    ]:
        out.update(decoder.feed(fid, data))
    assert out == {"v.p.speed": 87.65, "v.p.odometer": 48213, "v.e.temp": 7.5, "v.e.handbrake": True,
                   "v.e.gear": 1, "v.e.on": True, "v.d.fl": True, "v.d.fr": False, "v.d.rl": False,
                   "v.d.rr": False, "v.d.trunk": True}
    assert decoder.feed(*real_frame(VW, "Motor_EV_01", MO_Waehlpos=3, HV_Bordnetz_aktiv=1)) == [("v.e.gear", -1)]
    vin = VW.car["vin"]
    for page, chars in enumerate((range(1, 4), range(4, 11), range(11, 18))):
        fid, data = real_frame(VW, "VIN_01", VIN_01_MUX=page, **{f"VIN_{n}": ord(vin[n - 1]) for n in chars})
        out.update(decoder.feed(fid, data))
    assert out["v.vin"] == vin


def test_virtual_car_speaks_the_new_real_profiles() -> None:
    for profile, expect in ((GM, "v.b.voltage"), (VW, "v.p.speed")):
        loop = VirtualLoop(seed=5)
        car_port, unit_port = frame_link(loop)
        car = VirtualCar(loop, car_port, profile, rate=0.5)
        decoder = profile.decoder()
        metrics: dict = {}

        def on_frame(i: int, d: bytes, t: float, dec: Decoder = decoder, m: dict = metrics) -> None:
            m.update(dec.feed(i, d))

        unit_port.set_handler(on_frame)
        car.do("drive")
        loop.run(until=60.0)
        assert metrics[expect] > 0 and decoder.stats.malformed == 0, profile.name
