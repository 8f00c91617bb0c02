"""GNSS position reports: SIMCom `+CGNSINF` lines and NMEA RMC/GGA streams (via pynmea2).

Both parsers are pure (text in, `GnssFix` out) and raise only `GnssError` on bad input, so the
driver can log and drop a garbled line without ever crashing on what the module sent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

import pynmea2

KNOTS_TO_KMH = 1.852  # 1 international knot = 1852 m/h

# SIM808/SIM868 AT manual, AT+CGNSINF: 21 comma-separated fields.
CGNSINF_FIELDS = 21


class GnssError(ValueError):
    """A GNSS line we cannot use: malformed, bad checksum, out-of-range values."""


@dataclass(frozen=True)
class GnssFix:
    """One position report. `valid` False means "no fix": position fields may then be None.

    fix_quality follows NMEA GGA: 0 none, 1 GPS, 2 DGPS, 4 RTK fixed, 5 RTK float, 6 estimated.
    """

    valid: bool
    latitude: float | None
    longitude: float | None
    altitude_m: float | None
    speed_kmh: float | None
    course_deg: float | None
    fix_quality: int
    satellites_used: int | None
    satellites_in_view: int | None
    hdop: float | None
    utc: datetime | None


NO_FIX = GnssFix(False, None, None, None, None, None, 0, None, None, None, None)


def _float(text: str, what: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise GnssError(f"{what} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise GnssError(f"{what} {text!r} is not finite")
    return value


def _int(text: str, what: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or not text.isascii():
        raise GnssError(f"{what} {text!r} is not a non-negative integer")
    return int(text)


def _check_position(lat: float | None, lon: float | None) -> None:
    if lat is not None and not -90.0 <= lat <= 90.0:
        raise GnssError(f"latitude {lat} out of range")
    if lon is not None and not -180.0 <= lon <= 180.0:
        raise GnssError(f"longitude {lon} out of range")


# --- +CGNSINF -------------------------------------------------------------


def _cgnsinf_utc(text: str) -> datetime | None:
    """yyyyMMddhhmmss.sss -> aware UTC datetime."""
    text = text.strip()
    if not text:
        return None
    whole, _, frac = text.partition(".")
    if len(whole) != 14 or not whole.isdigit() or not whole.isascii() or (frac and not frac.isdigit()):
        raise GnssError(f"UTC {text!r} is not yyyyMMddhhmmss.sss")
    micro = int((frac + "000000")[:6]) if frac else 0
    try:
        return datetime(
            int(whole[0:4]),
            int(whole[4:6]),
            int(whole[6:8]),
            int(whole[8:10]),
            int(whole[10:12]),
            int(whole[12:14]),
            micro,
            tzinfo=UTC,
        )
    except ValueError as exc:
        raise GnssError(f"UTC {text!r}: {exc}") from None


def parse_cgnsinf(line: str) -> GnssFix:
    """Parse `+CGNSINF: <run>,<fix>,<utc>,<lat>,<lon>,<alt>,<speed>,<course>,...` (prefix optional).

    Empty fields give None; missing trailing fields are treated as empty (some firmware prints
    only `+CGNSINF: 0` while GNSS is off). run=0 or fix=0 gives valid=False, fix_quality 0.
    """
    body = line.strip()
    if body.startswith("+CGNSINF:"):
        body = body[len("+CGNSINF:") :]
    fields = [f.strip() for f in body.split(",")]
    if len(fields) > CGNSINF_FIELDS:
        raise GnssError(f"+CGNSINF has {len(fields)} fields, expected at most {CGNSINF_FIELDS}")
    fields += [""] * (CGNSINF_FIELDS - len(fields))
    run = _int(fields[0], "run status")
    fix = _int(fields[1], "fix status")
    if run is None or run > 1 or (fix is not None and fix > 1):
        raise GnssError(f"+CGNSINF run/fix status {fields[0]!r},{fields[1]!r} not 0/1")
    lat = _float(fields[3], "latitude")
    lon = _float(fields[4], "longitude")
    _check_position(lat, lon)
    valid = run == 1 and fix == 1 and lat is not None and lon is not None
    return GnssFix(
        valid=valid,
        latitude=lat,
        longitude=lon,
        altitude_m=_float(fields[5], "altitude"),
        speed_kmh=_float(fields[6], "speed"),
        course_deg=_float(fields[7], "course"),
        fix_quality=1 if valid else 0,
        satellites_used=_int(fields[15], "satellites used"),
        satellites_in_view=_int(fields[14], "satellites in view"),
        hdop=_float(fields[10], "HDOP"),
        utc=_cgnsinf_utc(fields[2]),
    )


# --- NMEA -----------------------------------------------------------------


def _nmea_coord(value: str, hemi: str, degree_digits: int, what: str) -> float | None:
    """ddmm.mmmm / dddmm.mmmm plus N/S/E/W -> signed decimal degrees."""
    value = value.strip()
    if not value:
        return None
    if hemi not in ("N", "S", "E", "W"):
        raise GnssError(f"{what} hemisphere {hemi!r} invalid")
    head, _, _ = value.partition(".")
    if len(head) != degree_digits + 2 or not head.isdigit() or not head.isascii():
        raise GnssError(f"{what} {value!r} is not in NMEA degrees-minutes form")
    minutes = _float(value[degree_digits:], what)
    assert minutes is not None
    if minutes >= 60.0:
        raise GnssError(f"{what} minutes {minutes} >= 60")
    deg = int(value[:degree_digits]) + minutes / 60.0
    return -deg if hemi in ("S", "W") else deg


def _field(msg: pynmea2.NMEASentence, index: int) -> str:
    """Raw field `index` of a sentence, "" when the sentence is shorter."""
    return msg.data[index] if index < len(msg.data) else ""


@dataclass(frozen=True)
class _Rmc:
    time: time | None
    date: date | None
    active: bool
    lat: float | None
    lon: float | None
    speed_kmh: float | None
    course: float | None


@dataclass(frozen=True)
class _Gga:
    time: time | None
    quality: int
    sats_used: int | None
    hdop: float | None
    altitude: float | None
    lat: float | None
    lon: float | None


class NmeaAccumulator:
    """Combines an NMEA stream (e.g. `AT+CGNSTST=1` output) into fixes.

    `feed(sentence)`:
    - RMC or GGA: returns the current GnssFix. RMC gives position, speed, course, date/time and
      validity; GGA gives quality, satellites used, HDOP and altitude. The other sentence's fields
      are merged only when its UTC time matches (same epoch), so whichever of the pair arrives
      second yields the complete fix; the first yields a partial one.
    - GSV: updates satellites in view (summed over talkers GP/GL/GA/...); returns None.
    - any other well-formed sentence: returns None.
    - malformed text, bad or missing checksum, out-of-range values: raises GnssError (only).
    """

    def __init__(self) -> None:
        self._rmc: _Rmc | None = None
        self._gga: _Gga | None = None
        self._date: date | None = None
        self._in_view: dict[str, int] = {}
        self._last_kind = ""

    def feed(self, sentence: str) -> GnssFix | None:
        try:
            msg = pynmea2.parse(sentence.strip(), check=True)
        except pynmea2.ParseError as exc:
            raise GnssError(f"bad NMEA sentence: {exc}") from None
        except (ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
            raise GnssError(f"bad NMEA sentence: {exc!r}") from None
        try:
            if isinstance(msg, pynmea2.types.talker.RMC):
                self._last_kind = "RMC"
                self._rmc = self._read_rmc(msg)
                if self._rmc.date is not None:
                    self._date = self._rmc.date
                return self._fix()
            if isinstance(msg, pynmea2.types.talker.GGA):
                self._last_kind = "GGA"
                self._gga = self._read_gga(msg)
                return self._fix()
            if isinstance(msg, pynmea2.types.talker.GSV):
                n = _int(_field(msg, 2), "satellites in view")
                if n is not None:
                    self._in_view[msg.talker] = n
                return None
        except GnssError:
            raise
        except (ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
            raise GnssError(f"bad {type(msg).__name__} fields: {exc!r}") from None
        return None

    @staticmethod
    def _time(text: str) -> time | None:
        text = text.strip()
        if not text:
            return None
        whole, _, frac = text.partition(".")
        if len(whole) != 6 or not whole.isdigit() or not whole.isascii() or (frac and not frac.isdigit()):
            raise GnssError(f"NMEA time {text!r} is not hhmmss.ss")
        micro = int((frac + "000000")[:6]) if frac else 0
        try:
            return time(int(whole[:2]), int(whole[2:4]), int(whole[4:6]), micro)
        except ValueError as exc:
            raise GnssError(f"NMEA time {text!r}: {exc}") from None

    @staticmethod
    def _date_field(text: str) -> date | None:
        text = text.strip()
        if not text:
            return None
        if len(text) != 6 or not text.isdigit() or not text.isascii():
            raise GnssError(f"NMEA date {text!r} is not ddmmyy")
        try:
            yy = int(text[4:6])
            # Two-digit year: GPS time starts in 1980, so 80-99 are 19xx.
            return date((1900 if yy >= 80 else 2000) + yy, int(text[2:4]), int(text[0:2]))
        except ValueError as exc:
            raise GnssError(f"NMEA date {text!r}: {exc}") from None

    def _read_rmc(self, msg: pynmea2.RMC) -> _Rmc:
        # NMEA 0183 RMC: time, status, lat, N/S, lon, E/W, speed kn, course, ddmmyy, ...
        status = _field(msg, 1)
        if status not in ("A", "V"):
            raise GnssError(f"RMC status {status!r} is not A/V")
        lat = _nmea_coord(_field(msg, 2), _field(msg, 3), 2, "latitude")
        lon = _nmea_coord(_field(msg, 4), _field(msg, 5), 3, "longitude")
        _check_position(lat, lon)
        knots = _float(_field(msg, 6), "speed")
        return _Rmc(
            time=self._time(_field(msg, 0)),
            date=self._date_field(_field(msg, 8)),
            active=status == "A",
            lat=lat,
            lon=lon,
            speed_kmh=None if knots is None else knots * KNOTS_TO_KMH,
            course=_float(_field(msg, 7), "course"),
        )

    def _read_gga(self, msg: pynmea2.GGA) -> _Gga:
        # NMEA 0183 GGA: time, lat, N/S, lon, E/W, quality, sats used, HDOP, altitude, M, ...
        lat = _nmea_coord(_field(msg, 1), _field(msg, 2), 2, "latitude")
        lon = _nmea_coord(_field(msg, 3), _field(msg, 4), 3, "longitude")
        _check_position(lat, lon)
        quality = _int(_field(msg, 5), "fix quality")
        return _Gga(
            time=self._time(_field(msg, 0)),
            quality=quality or 0,
            sats_used=_int(_field(msg, 6), "satellites used"),
            hdop=_float(_field(msg, 7), "HDOP"),
            altitude=_float(_field(msg, 8), "altitude"),
            lat=lat,
            lon=lon,
        )

    def _fix(self) -> GnssFix:
        rmc, gga = self._rmc, self._gga
        if rmc is not None and gga is not None and rmc.time != gga.time:
            # Different epochs: keep only the newer sentence, i.e. the one just fed.
            rmc, gga = (rmc, None) if self._last_was_rmc() else (None, gga)
        in_view = sum(self._in_view.values()) if self._in_view else None
        if rmc is not None:
            quality = gga.quality if gga is not None else (1 if rmc.active else 0)
            valid = rmc.active and quality > 0 and rmc.lat is not None and rmc.lon is not None
            utc = None
            if rmc.time is not None and rmc.date is not None:
                utc = datetime.combine(rmc.date, rmc.time, tzinfo=UTC)
            return GnssFix(
                valid=valid,
                latitude=rmc.lat,
                longitude=rmc.lon,
                altitude_m=gga.altitude if gga else None,
                speed_kmh=rmc.speed_kmh,
                course_deg=rmc.course,
                fix_quality=quality,
                satellites_used=gga.sats_used if gga else None,
                satellites_in_view=in_view,
                hdop=gga.hdop if gga else None,
                utc=utc,
            )
        assert gga is not None
        utc = None
        if gga.time is not None and self._date is not None:
            utc = datetime.combine(self._date, gga.time, tzinfo=UTC)
        return GnssFix(
            valid=gga.quality > 0 and gga.lat is not None and gga.lon is not None,
            latitude=gga.lat,
            longitude=gga.lon,
            altitude_m=gga.altitude,
            speed_kmh=None,
            course_deg=None,
            fix_quality=gga.quality,
            satellites_used=gga.sats_used,
            satellites_in_view=in_view,
            hdop=gga.hdop,
            utc=utc,
        )

    def _last_was_rmc(self) -> bool:
        return self._last_kind == "RMC"


# --- +CGPSINFO (SIM7500/SIM7600) ------------------------------------------

CGPSINFO_FIELDS = 9


def parse_cgpsinfo(line: str) -> GnssFix:
    """Parse SIM7600 `+CGPSINFO: <lat>,<N/S>,<log>,<E/W>,<date>,<UTC time>,<alt>,<speed>,<course>`.

    Latitude ddmm.mmmmmm, longitude dddmm.mmmmmm, date ddmmyy, time hhmmss.s, altitude in metres,
    speed over ground in knots. All fields empty (`+CGPSINFO: ,,,,,,,,`) means no fix yet.
    """
    body = line.strip()
    if body.startswith("+CGPSINFO:"):
        body = body[len("+CGPSINFO:"):]
    f = [x.strip() for x in body.split(",")]
    if len(f) > CGPSINFO_FIELDS:
        raise GnssError(f"+CGPSINFO has {len(f)} fields, expected {CGPSINFO_FIELDS}")
    f += [""] * (CGPSINFO_FIELDS - len(f))
    if not f[0] and not f[2]:
        return NO_FIX
    lat = _nmea_coord(f[0], f[1], 2, "latitude")
    lon = _nmea_coord(f[2], f[3], 3, "longitude")
    _check_position(lat, lon)
    utc = None
    if f[4] or f[5]:
        d, t = f[4], f[5].partition(".")[0]
        if len(d) != 6 or len(t) != 6 or not (d + t).isdigit() or not (d + t).isascii():
            raise GnssError(f"+CGPSINFO date/time {f[4]!r},{f[5]!r} not ddmmyy,hhmmss.s")
        try:
            utc = datetime(2000 + int(d[4:]), int(d[2:4]), int(d[:2]), int(t[:2]), int(t[2:4]), int(t[4:]),
                           tzinfo=UTC)
        except ValueError as exc:
            raise GnssError(f"+CGPSINFO date/time: {exc}") from None
    speed = _float(f[7], "speed")
    valid = lat is not None and lon is not None
    return GnssFix(valid=valid, latitude=lat, longitude=lon, altitude_m=_float(f[6], "altitude"),
                   speed_kmh=None if speed is None else speed * KNOTS_TO_KMH,
                   course_deg=_float(f[8], "course"), fix_quality=1 if valid else 0,
                   satellites_used=None, satellites_in_view=None, hdop=None, utc=utc)
