"""Receipt deadlines (办理时限): the statutory working calendar, the operator's overrides and the policy."""
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from gongwen_exchange.domain.deadlines import URGENCIES, DeadlinePolicy, WorkingCalendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
POLICY = DeadlinePolicy()
CALENDAR = WorkingCalendar()
DEFAULT_HOURS = ((time(8, 30), time(12, 0)), (time(14, 30), time(18, 0)))


def shanghai(year, month, day, hour=0, minute=0):
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def due(sent_at, urgency="normal", calendar=CALENDAR, policy=POLICY):
    return policy.due_at(sent_at, urgency, calendar)


# --- normal (平急): close of business of the next working day -----------------------------------

def test_national_day_2022_normal_documents_wait_for_the_adjusted_working_weekend():
    # Oct 1–7 2022 off; Sat Oct 8 and Sun Oct 9 were adjusted working days (调休上班).
    assert due(shanghai(2022, 9, 30, 17, 0)) == shanghai(2022, 10, 8, 18, 0)
    assert due(shanghai(2022, 10, 3, 11, 0)) == shanghai(2022, 10, 8, 18, 0)
    assert due(shanghai(2022, 10, 8, 10, 0)) == shanghai(2022, 10, 9, 18, 0)
    assert due(shanghai(2022, 10, 9, 10, 0)) == shanghai(2022, 10, 10, 18, 0)


def test_normal_is_the_next_working_day_even_when_sent_early_in_the_day():
    assert due(shanghai(2024, 3, 13, 0, 0)) == shanghai(2024, 3, 14, 18, 0)  # Wednesday
    assert due(shanghai(2024, 3, 13, 12, 30)) == shanghai(2024, 3, 14, 18, 0)  # the lunch break changes nothing
    assert due(shanghai(2024, 3, 15, 23, 59)) == shanghai(2024, 3, 18, 18, 0)  # Friday → Monday


def test_normal_is_due_at_the_end_of_the_last_period_not_at_the_start_of_the_lunch_break():
    assert POLICY.workday_end == time(18, 0)
    assert POLICY.workday_start == time(8, 30)
    assert due(shanghai(2024, 3, 13, 10, 0)).astimezone(SHANGHAI).time() == time(18, 0)


def test_due_at_is_utc_and_the_sent_day_is_the_policy_zones_day():
    # 16:30 UTC on Fri Sep 30 is already 00:30 on the Oct 1 holiday in Beijing.
    sent_at = datetime(2022, 9, 30, 16, 30, tzinfo=UTC)
    result = due(sent_at)
    assert result.tzinfo is UTC
    assert result == datetime(2022, 10, 8, 10, 0, tzinfo=UTC) == shanghai(2022, 10, 8, 18, 0)
    assert due(datetime(2022, 9, 30, 15, 59, tzinfo=UTC)) == shanghai(2022, 10, 8, 18, 0)
    assert due(datetime(2024, 3, 13, 15, 59, tzinfo=UTC)) == shanghai(2024, 3, 14, 18, 0)
    assert due(datetime(2024, 3, 13, 16, 0, tzinfo=UTC)) == shanghai(2024, 3, 15, 18, 0)


# --- urgent (加急) and extra urgent (特急) -------------------------------------------------------

def test_urgent_and_extra_urgent_within_working_hours():
    assert due(shanghai(2024, 3, 13, 10, 0), "extra_urgent") == shanghai(2024, 3, 13, 10, 30)
    assert due(shanghai(2024, 3, 13, 10, 0), "urgent") == shanghai(2024, 3, 13, 11, 0)
    # Inside hours the interval holds even when it runs past closing or into the lunch break.
    assert due(shanghai(2024, 3, 13, 17, 30), "urgent") == shanghai(2024, 3, 13, 18, 30)
    assert due(shanghai(2024, 3, 13, 11, 30), "urgent") == shanghai(2024, 3, 13, 12, 30)
    assert due(shanghai(2024, 3, 13, 8, 30), "urgent") == shanghai(2024, 3, 13, 9, 30)
    assert due(shanghai(2024, 3, 13, 14, 30), "urgent") == shanghai(2024, 3, 13, 15, 30)
    assert due(shanghai(2024, 3, 13, 17, 59), "extra_urgent") == shanghai(2024, 3, 13, 18, 29)
    # An adjusted working Saturday is a working day.
    assert due(shanghai(2022, 10, 8, 10, 0), "urgent") == shanghai(2022, 10, 8, 11, 0)


def test_urgent_outside_working_hours_or_on_a_non_working_day_gets_two_hours():
    assert due(shanghai(2024, 3, 13, 22, 0), "urgent") == shanghai(2024, 3, 14, 0, 0)
    assert due(shanghai(2024, 3, 16, 10, 0), "urgent") == shanghai(2024, 3, 16, 12, 0)  # a plain Saturday
    assert due(shanghai(2022, 10, 3, 10, 0), "extra_urgent") == shanghai(2022, 10, 3, 12, 0)  # a Monday holiday
    assert due(shanghai(2024, 3, 13, 8, 29), "extra_urgent") == shanghai(2024, 3, 13, 10, 29)
    assert due(shanghai(2024, 3, 13, 18, 0), "urgent") == shanghai(2024, 3, 13, 20, 0)


def test_the_lunch_break_is_after_hours():
    # 001 §22: "after hours" includes the lunch break (午休) between the two working periods.
    assert due(shanghai(2024, 3, 13, 12, 30), "urgent") == shanghai(2024, 3, 13, 14, 30)
    assert due(shanghai(2024, 3, 13, 12, 0), "extra_urgent") == shanghai(2024, 3, 13, 14, 0)
    assert due(shanghai(2024, 3, 13, 14, 29), "urgent") == shanghai(2024, 3, 13, 16, 29)
    # A minute before the break is still working hours.
    assert due(shanghai(2024, 3, 13, 11, 59), "urgent") == shanghai(2024, 3, 13, 12, 59)
    assert due(shanghai(2024, 3, 13, 11, 59), "extra_urgent") == shanghai(2024, 3, 13, 12, 29)
    # On an adjusted working Saturday too.
    assert due(shanghai(2022, 10, 8, 12, 30), "urgent") == shanghai(2022, 10, 8, 14, 30)


def test_in_working_hours_bounds():
    assert not POLICY.in_working_hours(shanghai(2024, 3, 13, 8, 29), CALENDAR)
    assert POLICY.in_working_hours(shanghai(2024, 3, 13, 8, 30), CALENDAR)
    assert POLICY.in_working_hours(shanghai(2024, 3, 13, 11, 59), CALENDAR)
    assert not POLICY.in_working_hours(shanghai(2024, 3, 13, 12, 0), CALENDAR)
    assert not POLICY.in_working_hours(shanghai(2024, 3, 13, 12, 30), CALENDAR)
    assert not POLICY.in_working_hours(shanghai(2024, 3, 13, 14, 29), CALENDAR)
    assert POLICY.in_working_hours(shanghai(2024, 3, 13, 14, 30), CALENDAR)
    assert POLICY.in_working_hours(shanghai(2024, 3, 13, 17, 59), CALENDAR)
    assert not POLICY.in_working_hours(shanghai(2024, 3, 13, 18, 0), CALENDAR)
    assert not POLICY.in_working_hours(shanghai(2024, 3, 16, 10, 0), CALENDAR)
    assert POLICY.in_working_hours(datetime(2024, 3, 13, 2, 0, tzinfo=UTC), CALENDAR)  # 10:00 in Beijing


def test_off_hours_interval_is_elapsed_time_across_a_dst_change():
    policy = DeadlinePolicy(timezone="Europe/Berlin")
    berlin = ZoneInfo("Europe/Berlin")
    # Sun 31 Mar 2024, 01:30 CET; the clocks jump from 02:00 to 03:00.
    sent_at = datetime(2024, 3, 31, 1, 30, tzinfo=berlin)
    result = policy.due_at(sent_at, "urgent", CALENDAR)
    assert result - sent_at == timedelta(hours=2)
    assert result.astimezone(berlin).replace(tzinfo=None) == datetime(2024, 3, 31, 4, 30)


def test_urgency_and_awareness_are_checked():
    assert URGENCIES == ("normal", "urgent", "extra_urgent")
    with pytest.raises(ValueError, match="urgency"):
        due(shanghai(2024, 3, 13, 10, 0), "very_urgent")
    with pytest.raises(ValueError, match="timezone-aware"):
        due(datetime(2024, 3, 13, 10, 0))
    with pytest.raises(ValueError, match="timezone-aware"):
        due(datetime(2024, 3, 13, 10, 0), "urgent")
    with pytest.raises(ValueError, match="timezone-aware"):
        POLICY.in_working_hours(datetime(2024, 3, 13, 10, 0), CALENDAR)


# --- the working calendar (工作日历) --------------------------------------------------------------

def test_the_library_knows_holidays_and_adjusted_working_days():
    assert CALENDAR.is_working_day(date(2022, 9, 30))
    assert not CALENDAR.is_working_day(date(2022, 10, 3))
    assert CALENDAR.is_working_day(date(2022, 10, 8))  # Saturday, 调休上班
    assert CALENDAR.next_working_day(date(2022, 9, 30)) == date(2022, 10, 8)
    assert CALENDAR.coverage(2022) == "library"


def test_a_year_beyond_the_library_falls_back_to_weekends_only_and_is_reported():
    calendar = WorkingCalendar()
    assert calendar.coverage(2027) == "weekends_only"
    assert calendar.uncovered_years([2026, 2027]) == [2027]
    assert calendar.uncovered_years([2027, 2028, 2027, 2025]) == [2027, 2028]
    assert calendar.is_working_day(date(2027, 1, 1))  # a Friday: New Year's Day, but nobody said so
    assert not calendar.is_working_day(date(2027, 1, 2))
    assert calendar.next_working_day(date(2027, 1, 1)) == date(2027, 1, 4)
    assert due(shanghai(2026, 12, 31, 10, 0), calendar=calendar) == shanghai(2027, 1, 1, 18, 0)
    assert due(shanghai(2027, 1, 2, 10, 0), "urgent", calendar=calendar) == shanghai(2027, 1, 2, 12, 0)
    assert WorkingCalendar().coverage(2003) == "weekends_only"


def test_the_operators_schedule_decides_a_year_beyond_the_library():
    calendar = WorkingCalendar({date(2027, 1, 1): False}, official_years={2027})
    assert calendar.coverage(2027) == "official"
    assert calendar.uncovered_years([2026, 2027]) == []
    assert not calendar.is_working_day(date(2027, 1, 1))
    assert calendar.is_working_day(date(2027, 1, 4))
    assert due(shanghai(2026, 12, 31, 10, 0), calendar=calendar) == shanghai(2027, 1, 4, 18, 0)
    assert due(shanghai(2027, 1, 1, 10, 0), "urgent", calendar=calendar) == shanghai(2027, 1, 1, 12, 0)


def test_overrides_beat_the_library_and_a_partial_load_is_still_reported():
    # National Day 2024: Oct 1 off (library), Sat Oct 12 an adjusted working day (library).
    calendar = WorkingCalendar({date(2024, 10, 1): True, date(2024, 10, 12): False, date(2028, 1, 3): False})
    assert calendar.is_working_day(date(2024, 10, 1))
    assert not calendar.is_working_day(date(2024, 10, 12))
    assert CALENDAR.is_working_day(date(2024, 10, 12)) and not CALENDAR.is_working_day(date(2024, 10, 1))
    assert calendar.coverage(2024) == "library"
    # Overrides without the year's complete schedule decide their dates but leave the year uncovered.
    assert not calendar.is_working_day(date(2028, 1, 3))
    assert calendar.coverage(2028) == "weekends_only"
    assert WorkingCalendar(official_years={2024}).coverage(2024) == "official"


def test_overrides_are_dates_and_booleans():
    with pytest.raises(TypeError, match="dates"):
        WorkingCalendar({datetime(2027, 1, 1, 0, 0): False})
    with pytest.raises(TypeError, match="True or False"):
        WorkingCalendar({date(2027, 1, 1): "no"})
    with pytest.raises(TypeError, match="integers"):
        WorkingCalendar(official_years={"2027"})


# --- the policy from config ------------------------------------------------------------------------

def test_policy_defaults():
    assert DeadlinePolicy.from_config({}) == DeadlinePolicy() == DeadlinePolicy(
        "Asia/Shanghai", DEFAULT_HOURS, timedelta(minutes=60), timedelta(minutes=30), timedelta(hours=2))
    assert DeadlinePolicy().working_hours == DEFAULT_HOURS
    assert DeadlinePolicy.from_config({"EXCHANGE_WORKING_HOURS": None}) == DeadlinePolicy()


def test_workday_start_and_end_are_read_only_and_no_longer_fields():
    policy = DeadlinePolicy(working_hours=((time(7, 0), time(9, 0)), (time(10, 0), time(11, 0)),
                                           (time(13, 0), time(16, 45))))
    assert (policy.workday_start, policy.workday_end) == (time(7, 0), time(16, 45))
    with pytest.raises(AttributeError):
        policy.workday_end = time(17, 30)
    with pytest.raises(TypeError):
        DeadlinePolicy(workday_end=time(17, 30))


def test_working_hours_from_config():
    assert DeadlinePolicy.from_config({"EXCHANGE_WORKING_HOURS": "08:30-12:00,14:30-18:00"}) == DeadlinePolicy()
    assert DeadlinePolicy.from_config(
        {"EXCHANGE_WORKING_HOURS": " 08:30 - 12:00 , 14:30 -18:00 "}).working_hours == DEFAULT_HOURS
    single = DeadlinePolicy.from_config({"EXCHANGE_WORKING_HOURS": "09:00-17:00"})
    assert single.working_hours == ((time(9, 0), time(17, 0)),)
    assert (single.workday_start, single.workday_end) == (time(9, 0), time(17, 0))
    # One period: no lunch break.
    assert single.in_working_hours(shanghai(2024, 3, 13, 12, 30), CALENDAR)
    assert not single.in_working_hours(shanghai(2024, 3, 13, 17, 0), CALENDAR)
    assert single.due_at(shanghai(2024, 3, 13, 12, 30), "urgent", CALENDAR) == shanghai(2024, 3, 13, 13, 30)
    assert single.due_at(shanghai(2024, 3, 13, 10, 0), "normal", CALENDAR) == shanghai(2024, 3, 14, 17, 0)
    assert DeadlinePolicy.from_config({"EXCHANGE_WORKING_HOURS": "8:00-12:00"}).workday_start == time(8, 0)
    # Periods may touch: each excludes its end.
    touching = DeadlinePolicy.from_config({"EXCHANGE_WORKING_HOURS": "08:00-12:00,12:00-17:00"})
    assert touching.in_working_hours(shanghai(2024, 3, 13, 12, 0), CALENDAR)


def test_policy_from_config():
    policy = DeadlinePolicy.from_config({
        "EXCHANGE_TIMEZONE": "Asia/Urumqi", "EXCHANGE_WORKING_HOURS": "09:00-13:00,15:00-19:00",
        "EXCHANGE_URGENT_MINUTES": 45, "EXCHANGE_EXTRA_URGENT_MINUTES": "20", "EXCHANGE_OFF_HOURS_MINUTES": 180,
    })
    assert policy == DeadlinePolicy("Asia/Urumqi", ((time(9, 0), time(13, 0)), (time(15, 0), time(19, 0))),
                                    timedelta(minutes=45), timedelta(minutes=20), timedelta(hours=3))
    urumqi = ZoneInfo("Asia/Urumqi")
    assert policy.due_at(shanghai(2024, 3, 13, 10, 0), "normal", CALENDAR) == datetime(2024, 3, 14, 19, 0,
                                                                                        tzinfo=urumqi)
    # 10:00 in Beijing is 08:00 in Urumqi: before that office opens.
    assert policy.due_at(shanghai(2024, 3, 13, 10, 0), "urgent", CALENDAR) == shanghai(2024, 3, 13, 13, 0)
    assert policy.due_at(shanghai(2024, 3, 13, 12, 0), "extra_urgent", CALENDAR) == shanghai(2024, 3, 13, 12, 20)
    # 16:00 in Beijing is 14:00 in Urumqi: that office's lunch break.
    assert policy.due_at(shanghai(2024, 3, 13, 16, 0), "urgent", CALENDAR) == shanghai(2024, 3, 13, 19, 0)


@pytest.mark.parametrize(("config", "message"), [
    ({"EXCHANGE_TIMEZONE": "Asia/Nowhere"}, "unknown time zone"),
    ({"EXCHANGE_TIMEZONE": ""}, "unknown time zone"),
    ({"EXCHANGE_TIMEZONE": 8}, "EXCHANGE_TIMEZONE"),
    ({"EXCHANGE_URGENT_MINUTES": 0}, "EXCHANGE_URGENT_MINUTES"),
    ({"EXCHANGE_EXTRA_URGENT_MINUTES": -5}, "EXCHANGE_EXTRA_URGENT_MINUTES"),
    ({"EXCHANGE_OFF_HOURS_MINUTES": "two hours"}, "EXCHANGE_OFF_HOURS_MINUTES"),
    ({"EXCHANGE_OFF_HOURS_MINUTES": 1.5}, "EXCHANGE_OFF_HOURS_MINUTES"),
    ({"EXCHANGE_URGENT_MINUTES": True}, "EXCHANGE_URGENT_MINUTES"),
])
def test_bad_config_is_refused_with_the_key_named(config, message):
    with pytest.raises(ValueError, match=message):
        DeadlinePolicy.from_config(config)


@pytest.mark.parametrize(("value", "message"), [
    ("08:30-12:00,11:30-18:00", "must not overlap"),
    ("08:30-12:00,08:30-10:00", "must not overlap"),
    ("14:30-18:00,08:30-12:00", "ascending order"),
    ("", "at least one"),
    ("  ", "at least one"),
    ("8h30-12:00", "HH:MM"),
    ("08:30-12:00,", "HH:MM-HH:MM"),
    ("08:30-12:00;14:30-18:00", "HH:MM-HH:MM"),
    ("08:30-12:00-14:00", "HH:MM-HH:MM"),
    ("08:30", "HH:MM-HH:MM"),
    ("08:30-24:00", "between 00:00 and 23:59"),
    ("08:30-17:60", "between 00:00 and 23:59"),
    ("12:00-08:30", "start before it ends"),
    ("12:00-12:00", "start before it ends"),
    (1050, "quote"),  # what YAML makes of an unquoted 17:30
    (8.5, "quote"),
    (["08:30-12:00", "14:30-18:00"], "quote"),
])
def test_bad_working_hours_are_refused_with_the_key_named(value, message):
    with pytest.raises(ValueError, match=message) as refused:
        DeadlinePolicy.from_config({"EXCHANGE_WORKING_HOURS": value})
    assert "EXCHANGE_WORKING_HOURS" in str(refused.value)


def test_the_policy_checks_itself_when_built_directly():
    with pytest.raises(ValueError, match="positive"):
        DeadlinePolicy(urgent=timedelta(0))
    with pytest.raises(ValueError, match="start before it ends"):
        DeadlinePolicy(working_hours=((time(18, 0), time(9, 0)),))
    with pytest.raises(ValueError, match="must not overlap"):
        DeadlinePolicy(working_hours=((time(8, 30), time(12, 0)), (time(11, 0), time(18, 0))))
    with pytest.raises(ValueError, match="ascending order"):
        DeadlinePolicy(working_hours=((time(14, 30), time(18, 0)), (time(8, 30), time(12, 0))))
    with pytest.raises(ValueError, match="at least one"):
        DeadlinePolicy(working_hours=())
    with pytest.raises(ValueError, match="naive local times"):
        DeadlinePolicy(working_hours=(("08:30", "12:00"),))
    with pytest.raises(ValueError, match="naive local times"):
        DeadlinePolicy(working_hours=((time(8, 30, tzinfo=UTC), time(12, 0)),))
    with pytest.raises(ValueError, match="pair"):
        DeadlinePolicy(working_hours=((time(8, 30), time(12, 0), time(14, 30)),))
    with pytest.raises(ValueError, match="sequence"):
        DeadlinePolicy(working_hours="08:30-12:00")
    with pytest.raises(ValueError, match="unknown time zone"):
        DeadlinePolicy(timezone="Mars/Olympus")
    # A list of lists is stored as a tuple of tuples, so the policy still compares and hashes.
    listed = DeadlinePolicy(working_hours=[[time(8, 30), time(12, 0)], [time(14, 30), time(18, 0)]])
    assert listed == DeadlinePolicy() and hash(listed) == hash(DeadlinePolicy())


# --- the normal deadline's properties, over every day of 2020–2030 ----------------------------------
# hypothesis is not installed in this venv; every sent day at the interesting times stands in for it.

@pytest.mark.parametrize("year", range(2020, 2031))
def test_every_normal_deadline_is_close_of_business_of_the_next_working_day(year):
    calendar = WorkingCalendar({date(2027, 10, 1): False}, official_years={2027})
    times = [time(0, 0), time(8, 29), time(8, 30), time(12, 0), time(12, 30), time(17, 59), time(18, 0),
             time(23, 59, 59)]
    day = date(year, 1, 1)
    while day.year == year:
        for at in times:
            sent_at = datetime.combine(day, at, tzinfo=SHANGHAI)
            for given in (sent_at, sent_at.astimezone(UTC)):
                result = POLICY.due_at(given, "normal", calendar)
                local = result.astimezone(SHANGHAI)
                assert result > given
                assert local.time() == POLICY.workday_end == time(18, 0)
                assert calendar.is_working_day(local.date())
                between = day + timedelta(days=1)
                while between < local.date():
                    assert not calendar.is_working_day(between), (sent_at, result)
                    between += timedelta(days=1)
        day += timedelta(days=1)
