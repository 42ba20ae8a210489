"""The message list shows dates in one style per language, in the reader's time zone: the time
for today's mail, the day and month for this year's, the numeric date before (issue 14)."""

import datetime

from django.utils import timezone, translation

from mailbox.templatetags.mail import list_date

PARIS = datetime.timezone(datetime.timedelta(hours=1))
NOW = datetime.datetime(2026, 11, 30, 16, 0, tzinfo=datetime.UTC)


def shown(when, language="en", zone=datetime.UTC):
    with translation.override(language), timezone.override(zone):
        return list_date(when, now=NOW)


def test_mail_from_today_shows_its_time():
    assert shown(datetime.datetime(2026, 11, 30, 14, 5, tzinfo=datetime.UTC)) == "2:05 p.m."


def test_mail_from_earlier_this_year_shows_day_and_month_spelled_out():
    assert shown(datetime.datetime(2026, 11, 29, 9, 0, tzinfo=datetime.UTC)) == "November 29"
    # the same style for every month: no "Sept." beside "Nov."
    assert shown(datetime.datetime(2026, 9, 12, 9, 0, tzinfo=datetime.UTC)) == "September 12"


def test_mail_from_past_years_shows_the_numeric_date():
    assert shown(datetime.datetime(2025, 6, 14, 9, 0, tzinfo=datetime.UTC)) == "06/14/2025"


def test_a_date_ahead_of_the_clock_shows_in_full():
    assert shown(datetime.datetime(2026, 12, 24, 9, 0, tzinfo=datetime.UTC)) == "12/24/2026"


def test_french_readers_see_french_dates():
    assert shown(datetime.datetime(2026, 11, 30, 14, 5, tzinfo=datetime.UTC), "fr") == "14:05"
    assert shown(datetime.datetime(2026, 9, 12, 9, 0, tzinfo=datetime.UTC), "fr") == "12 septembre"
    assert shown(datetime.datetime(2025, 6, 14, 9, 0, tzinfo=datetime.UTC), "fr") == "14/06/2025"


def test_today_is_the_readers_today():
    # 23:30 UTC on the 29th is already the 30th, 00:30, in Paris
    late = datetime.datetime(2026, 11, 29, 23, 30, tzinfo=datetime.UTC)
    assert shown(late, "fr", PARIS) == "00:30"
    assert shown(late, "fr") == "29 novembre"


def test_no_date_shows_nothing():
    assert shown(None) == ""
