"""+CGNSINF and NMEA parsing."""

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modem.gnss import GnssError, GnssFix, NmeaAccumulator, parse_cgnsinf

# Classic NMEA 0183 examples (RMC/GGA from the NMEA reference pages); checksums verified by pynmea2.
RMC = "$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A"
GGA = "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47"
GSV_GP = "$GPGSV,3,1,11,03,03,111,00,04,15,270,00,06,01,010,00,13,06,292,00*74"

# SIM868 manual example line.
CGNSINF = "+CGNSINF: 1,1,20161122182451.000,31.221783,121.354528,114.200,0.28,0.0,1,,1.1,2.0,1.7,,11,7,,,37,,"


def _render(talker: str, kind: str, fields: list[str]) -> str:
    body = f"{talker}{kind}," + ",".join(fields)
    checksum = 0
    for ch in body:
        checksum ^= ord(ch)
    return f"${body}*{checksum:02X}"


def test_cgnsinf_manual_example() -> None:
    fix = parse_cgnsinf(CGNSINF)
    assert fix == GnssFix(
        valid=True,
        latitude=31.221783,
        longitude=121.354528,
        altitude_m=114.2,
        speed_kmh=0.28,
        course_deg=0.0,
        fix_quality=1,
        satellites_used=7,
        satellites_in_view=11,
        hdop=1.1,
        utc=datetime(2016, 11, 22, 18, 24, 51, tzinfo=UTC),
    )


def test_cgnsinf_no_fix_and_powered_off() -> None:
    fix = parse_cgnsinf("+CGNSINF: 1,0,20240517134530.000,,,,0.00,0.0,0,,,,,,9,0,,,,,")
    assert not fix.valid and fix.fix_quality == 0 and fix.latitude is None
    assert fix.satellites_in_view == 9 and fix.satellites_used == 0
    assert fix.utc == datetime(2024, 5, 17, 13, 45, 30, tzinfo=UTC)
    assert not parse_cgnsinf("+CGNSINF: 0").valid
    assert not parse_cgnsinf("+CGNSINF: 0,,,,,,,,,,,,,,,,,,,,").valid
    # run=1 and fix=1 but empty position cannot be valid
    assert not parse_cgnsinf("1,1,20240517134530.000,,,,,,,,,,,,,,,,,,").valid


def test_cgnsinf_negative_coordinates_and_milliseconds() -> None:
    fix = parse_cgnsinf(
        "+CGNSINF: 1,1,20240517134530.250,-33.868820,-151.209296,58.0,12.5,271.3,1,,0.9,1.2,0.8,,14,9,3,,42,5.1,7.2"
    )
    assert (fix.latitude, fix.longitude) == (-33.86882, -151.209296)
    assert fix.utc == datetime(2024, 5, 17, 13, 45, 30, 250000, tzinfo=UTC)


@pytest.mark.parametrize(
    "line",
    [
        "",
        "+CGNSINF: 2,1",
        "+CGNSINF: 1,x",
        "+CGNSINF: 1,1,2016,31.2,121.3",
        "+CGNSINF: 1,1,20161322182451.000,31.2,121.3",
        "+CGNSINF: 1,1,20161122182451.000,91.0,121.3",
        "+CGNSINF: 1,1,20161122182451.000,31.0,nan",
        "+CGNSINF: 1,1,20161122182451.000,31.0,121.0,abc",
        "+CGNSINF: " + ",".join(["1"] * 22),
    ],
)
def test_cgnsinf_rejects_malformed(line: str) -> None:
    with pytest.raises(GnssError):
        parse_cgnsinf(line)


def test_nmea_rmc_then_gga_same_epoch() -> None:
    acc = NmeaAccumulator()
    first = acc.feed(RMC)
    assert first is not None and first.valid
    assert first.latitude == pytest.approx(48.1173)
    assert first.longitude == pytest.approx(11.516666, abs=1e-6)
    assert first.speed_kmh == pytest.approx(22.4 * 1.852)
    assert first.course_deg == 84.4
    assert first.utc == datetime(1994, 3, 23, 12, 35, 19, tzinfo=UTC)
    assert first.satellites_used is None  # GGA not seen yet
    assert acc.feed(GSV_GP) is None
    fix = acc.feed(GGA)
    assert fix is not None
    assert (fix.fix_quality, fix.satellites_used, fix.hdop, fix.altitude_m) == (1, 8, 0.9, 545.4)
    assert fix.satellites_in_view == 11
    assert fix.speed_kmh == first.speed_kmh and fix.utc == first.utc


def test_nmea_gga_first_then_rmc_and_epoch_change() -> None:
    acc = NmeaAccumulator()
    g = acc.feed(GGA)
    assert g is not None and g.valid and g.utc is None  # no date known yet
    fix = acc.feed(RMC)
    assert fix is not None and fix.altitude_m == 545.4 and fix.speed_kmh is not None
    # next epoch's RMC: the old GGA no longer belongs to it
    nxt = acc.feed(
        _render("GP", "RMC", ["123520", "A", "4807.040", "N", "01131.000", "E", "0.0", "", "230394", "", ""])
    )
    assert nxt is not None and nxt.altitude_m is None and nxt.satellites_used is None
    assert nxt.course_deg is None


def test_nmea_void_rmc_is_not_valid_and_gga_quality_zero() -> None:
    acc = NmeaAccumulator()
    fix = acc.feed("$GPRMC,,V,,,,,,,,,,N*53")
    assert fix is not None and not fix.valid and fix.latitude is None and fix.fix_quality == 0
    g = acc.feed(_render("GP", "GGA", ["", "", "", "", "", "0", "00", "99.99", "", "", "", "", "", ""]))
    assert g is not None and not g.valid


def test_nmea_southern_western_and_other_talkers() -> None:
    acc = NmeaAccumulator()
    fix = acc.feed(
        _render(
            "GN",
            "RMC",
            ["083015.00", "A", "3351.8000", "S", "15112.5000", "W", "10.0", "45.0", "170524", "", "", "A"],
        )
    )
    assert fix is not None
    assert fix.latitude == pytest.approx(-33.863333, abs=1e-6)
    assert fix.longitude == pytest.approx(-151.208333, abs=1e-6)
    assert fix.utc == datetime(2024, 5, 17, 8, 30, 15, tzinfo=UTC)


def test_nmea_other_sentences_ignored() -> None:
    acc = NmeaAccumulator()
    assert acc.feed("$GPGSA,A,3,04,05,,09,12,,,24,,,,,2.5,1.3,2.1*39") is None
    assert acc.feed(_render("GP", "VTG", ["054.7", "T", "034.4", "M", "005.5", "N", "010.2", "K"])) is None


@pytest.mark.parametrize(
    "line",
    [
        RMC.replace("*6A", "*6B"),  # checksum mismatch
        RMC[:-3],  # checksum missing
        "garbage",
        "",
        "$GPRMC",
        _render("GP", "RMC", ["123519", "X", "4807.038", "N", "01131.000", "E", "1", "2", "230394", "", ""]),
        _render("GP", "RMC", ["123519", "A", "4867.038", "N", "01131.000", "E", "1", "2", "230394", "", ""]),
        _render("GP", "RMC", ["123519", "A", "4807.038", "Q", "01131.000", "E", "1", "2", "230394", "", ""]),
        _render("GP", "RMC", ["126019", "A", "4807.038", "N", "01131.000", "E", "1", "2", "230394", "", ""]),
        _render("GP", "RMC", ["123519", "A", "4807.038", "N", "01131.000", "E", "1", "2", "330394", "", ""]),
        _render("GP", "GGA", ["123519", "4807.038", "N", "01131.000", "E", "x", "08", "0.9", "545.4"]),
        _render("GP", "GGA", ["123519", "9107.038", "N", "01131.000", "E", "1", "08", "0.9", "545.4"]),
    ],
)
def test_nmea_rejects_malformed(line: str) -> None:
    with pytest.raises(GnssError):
        NmeaAccumulator().feed(line)


@settings(max_examples=150, deadline=None)
@given(
    st.floats(-89.99, 89.99),
    st.floats(-179.99, 179.99),
    st.floats(0, 300),
    st.floats(0, 359.9),
    st.integers(0, 8),
    st.integers(0, 24),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2079, 12, 31)),
    st.booleans(),
)
def test_nmea_rendered_fix_round_trip(lat, lon, knots, course, quality, sats, when, rmc_first) -> None:
    ns, ew = ("N" if lat >= 0 else "S"), ("E" if lon >= 0 else "W")
    alat, alon = abs(lat), abs(lon)
    lat_s = f"{int(alat):02d}{(alat - int(alat)) * 60:07.4f}"
    lon_s = f"{int(alon):03d}{(alon - int(alon)) * 60:07.4f}"
    t = when.strftime("%H%M%S") + ".00"
    rmc = _render(
        "GP",
        "RMC",
        [t, "A", lat_s, ns, lon_s, ew, f"{knots:.2f}", f"{course:.1f}", when.strftime("%d%m%y"), "", ""],
    )
    gga = _render(
        "GP",
        "GGA",
        [t, lat_s, ns, lon_s, ew, str(quality), f"{sats:02d}", "1.2", "99.5", "M", "0.0", "M", "", ""],
    )
    acc = NmeaAccumulator()
    order = [rmc, gga] if rmc_first else [gga, rmc]
    acc.feed(order[0])
    fix = acc.feed(order[1])
    assert fix is not None
    assert fix.latitude == pytest.approx(lat, abs=1e-5)
    assert fix.longitude == pytest.approx(lon, abs=1e-5)
    assert fix.speed_kmh == pytest.approx(round(knots, 2) * 1.852)
    assert fix.fix_quality == quality and fix.satellites_used == sats and fix.altitude_m == 99.5
    assert fix.valid == (quality > 0)
    assert fix.utc == when.replace(microsecond=0, tzinfo=UTC)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_parsers_raise_only_gnss_error_on_arbitrary_text(text: str) -> None:
    acc = NmeaAccumulator()
    for fn in (acc.feed, parse_cgnsinf):
        try:
            fn(text)
        except GnssError:
            pass


field_text = st.text(alphabet="0123456789.-+NSEWAVx ", max_size=12)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["GP", "GN", "GL"]),
    st.sampled_from(["RMC", "GGA", "GSV"]),
    st.lists(field_text, max_size=16),
)
def test_nmea_raises_only_gnss_error_on_checksummed_garbage_fields(talker, kind, fields) -> None:
    try:
        NmeaAccumulator().feed(_render(talker, kind, fields))
    except GnssError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.lists(field_text, max_size=22))
def test_cgnsinf_raises_only_gnss_error_on_garbage_fields(fields) -> None:
    try:
        parse_cgnsinf("+CGNSINF: " + ",".join(fields))
    except GnssError:
        pass
