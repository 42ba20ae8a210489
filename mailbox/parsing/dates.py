"""RFC 5322 Date: values to aware datetimes, fast for the usual form, lenient for the rest.

The usual ``Tue, 1 Jul 2003 10:52:37 +0200`` (and its obsolete variants: no weekday, named
zones, two-digit years, no seconds, no zone at all) is read by one regular expression. Anything
else goes to ``email.utils.parsedate_to_datetime`` and then ``datetime.fromisoformat``. A zone
we cannot read counts as UTC ("-0000": the local zone is unknown, RFC 5322 section 3.3).
"""

import datetime
import re
from email.utils import parsedate_to_datetime

__all__ = ["MAX_YEAR", "MIN_YEAR", "parse_date", "parse_date_bytes"]

MIN_YEAR, MAX_YEAR = 1970, 2199  # outside: the sender's clock is broken, so no date at all
MAX_DATE_CHARS = 200

_DATE = re.compile(
    r"\s*(?:[A-Za-z]+\.?\s*,?\s*)?"  # day of week, comma optional
    r"(\d{1,2})[\s-]*([A-Za-z]{3})[A-Za-z]*\.?[\s-]*(\d{2,4})"  # 1 Jul 2003, 01-Jul-03
    r"\s+(\d{1,2}):(\d{1,2})(?::(\d{1,2}))?(?:\.\d+)?"  # 10:52:37, 10:52
    r"\s*(?:([+-])(\d\d):?(\d\d)|\(?([A-Za-z]{1,5})\b)?"  # +0200, +02:00, GMT, (EST)
)
# the form nearly every message has: Tue, 1 Jul 2003 10:52:37 +0200
_USUAL = re.compile(
    rb"[ \t]*(?:[A-Z][a-z]{2}, )?(\d{1,2}) ([A-Z][a-z]{2}) (\d{4})"
    rb" (\d\d):(\d\d):(\d\d) ([+-]\d{4})"
)
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
# RFC 5322 4.3 obsolete zones, and a few that are not in it but are often sent; military
# letters and unknown names are -0000
_ZONES = {
    "ut": 0,
    "utc": 0,
    "gmt": 0,
    "z": 0,
    "est": -300,
    "edt": -240,
    "cst": -360,
    "cdt": -300,
    "mst": -420,
    "mdt": -360,
    "pst": -480,
    "pdt": -420,
    "wet": 0,
    "west": 60,
    "bst": 60,
    "cet": 60,
    "cest": 120,
    "met": 60,
    "mest": 120,
    "eet": 120,
    "eest": 180,
    "msk": 180,
    "jst": 540,
    "kst": 540,
    "hkt": 480,
    "aest": 600,
    "aedt": 660,
    "nzst": 720,
    "nzdt": 780,
}
_MONTHS_TITLE = {name.title().encode(): number for name, number in _MONTHS.items()}
_NUMBERS = {b"%02d" % number: number for number in range(100)}
_NUMBERS.update({b"%d" % number: number for number in range(10)})
_ZONE_CACHE: dict[bytes, datetime.timezone] = {}  # b"+0200" -> timezone; at most 2 * 24 * 60
_TZ_CACHE: dict[int, datetime.timezone] = {0: datetime.UTC}


def _tz(minutes: int) -> datetime.timezone:
    tz = _TZ_CACHE.get(minutes)
    if tz is None:
        tz = datetime.timezone(datetime.timedelta(minutes=minutes))
        if len(_TZ_CACHE) < 2000:  # there are fewer than 200 real offsets
            _TZ_CACHE[minutes] = tz
    return tz


def _year(text: str) -> int:
    year = int(text)
    if len(text) == 2:  # RFC 5322 4.3: 00-49 are 2000-2049, 50-99 are 1950-1999
        return year + (2000 if year < 50 else 1900)
    if len(text) == 3:
        return year + 1900
    return year


def parse_date(value: str) -> datetime.datetime | None:
    """An aware datetime for a Date: value, or None when there is no sensible one."""
    value = value[:MAX_DATE_CHARS]
    if value.isascii():
        return parse_date_bytes(value.encode("ascii"))
    return _parse_general(value)


def parse_date_bytes(value: bytes) -> datetime.datetime | None:
    """:func:`parse_date` straight from the field's bytes, fastest for the usual form."""
    match = _USUAL.match(value)
    if match is not None:
        day, month, year, hour, minute, second, zone = match.groups()
        month_number = _MONTHS_TITLE.get(month)
        year_number = int(year)
        tz = _ZONE_CACHE.get(zone) or _numeric_zone(zone)
        if month_number and tz and MIN_YEAR <= year_number <= MAX_YEAR:
            try:
                return datetime.datetime(
                    year_number,
                    month_number,
                    _NUMBERS[day],
                    _NUMBERS[hour],
                    _NUMBERS[minute],
                    min(_NUMBERS[second], 59),  # 60: a leap second
                    tzinfo=tz,
                )
            except ValueError:  # 31 Feb, 25:00
                return None
    return _parse_general(value[:MAX_DATE_CHARS].decode("ascii", "replace"))


def _numeric_zone(zone: bytes) -> datetime.timezone | None:
    """+hhmm as a timezone, remembered; None when out of range (the slow path decides)."""
    hours, minutes = int(zone[1:3]), int(zone[3:5])
    if hours >= 24 or minutes >= 60:
        return None
    offset = hours * 60 + minutes
    tz = _ZONE_CACHE[zone] = _tz(-offset if zone[:1] == b"-" else offset)
    return tz


def _parse_general(value: str) -> datetime.datetime | None:
    match = _DATE.match(value)
    if match is None:
        return _parse_odd(value)
    day, month, year, hour, minute, second, sign, zh, zm, zone = match.groups()
    month_number = _MONTHS.get(month.lower())
    if month_number is None:
        return _parse_odd(value)
    offset = 0
    if sign:
        hours, minutes = int(zh), int(zm)
        if hours < 24 and minutes < 60:
            offset = hours * 60 + minutes
            if sign == "-":
                offset = -offset
    elif zone:
        offset = _ZONES.get(zone.lower(), 0)
    year_number = _year(year)
    if not MIN_YEAR <= year_number <= MAX_YEAR:
        return None
    try:
        return datetime.datetime(
            year_number,
            month_number,
            int(day),
            int(hour),
            int(minute),
            min(int(second or 0), 59),  # 60: a leap second
            tzinfo=_tz(offset),
        )
    except ValueError:  # 31 Feb, 25:00
        return None


def _parse_odd(value: str) -> datetime.datetime | None:
    """The forms the fast path does not take: asctime, ISO 8601, other oddities."""
    value = value.strip()
    if not value:
        return None
    try:
        result = parsedate_to_datetime(value)
    except Exception:  # the stdlib parser's errors on garbage are not part of its contract
        try:
            result = datetime.datetime.fromisoformat(value)
        except ValueError:
            return None
    if result.tzinfo is None:
        result = result.replace(tzinfo=datetime.UTC)
    if not MIN_YEAR <= result.year <= MAX_YEAR:
        return None
    return result
