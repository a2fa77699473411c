"""Receipt deadlines (办理时限): when each recipient's receipt of a document falls due.

- normal (平急): close of business (the end of the day's last working period) of the first working
  day strictly after the day the document was sent, in the policy's time zone;
- urgent (加急) / extra urgent (特急): ``sent_at`` + 60 / 30 minutes when sent within working hours,
  otherwise (after hours, including the lunch break, or on a non-working day) ``sent_at`` + 2 hours
  (001 §22).

Working hours (工作时间) are a policy: one or more ascending, non-overlapping periods within a day,
by default 08:30–12:00 and 14:30–18:00 (a government office's lunch break, 午休, lies between them).
Each period includes its start and excludes its end.

Working days follow the statutory calendar (法定节假日): adjusted working weekends (调休上班) are
working days, statutory holidays are not. The operator's per-date overrides, loaded from each
year's State Council notice (国务院办公厅关于部分节假日安排的通知), take precedence over the
``chinese-calendar`` library; a year neither knows falls back to Monday–Friday and is reported by
``WorkingCalendar.uncovered_years`` so health can warn the operator instead of anything failing.

Pure functions of their inputs: the time is always passed in, never read from the clock.
"""
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import chinese_calendar

from gongwen_contracts.exchange.schemas import URGENCIES

COVERAGE_OFFICIAL = "official"
COVERAGE_LIBRARY = "library"
COVERAGE_WEEKENDS_ONLY = "weekends_only"

_ONE_DAY = timedelta(days=1)
_HH_MM = re.compile(r"^(\d{1,2}):(\d{2})$")

WorkingHours = tuple[tuple[time, time], ...]
DEFAULT_WORKING_HOURS: WorkingHours = ((time(8, 30), time(12, 0)), (time(14, 30), time(18, 0)))


class WorkingCalendar:
    """The working calendar (工作日历): which dates are working days.

    ``overrides`` maps a date to whether it is a working day, as loaded by the operator;
    ``official_years`` are the years for which the operator loaded the complete official schedule.
    A date is decided by its override, else by the library, else by the weekday (Mon–Fri).
    """

    def __init__(self, overrides: Mapping[date, bool] | None = None, official_years: Iterable[int] | None = None):
        self._overrides: dict[date, bool] = {}
        for day, working in (overrides or {}).items():
            # A datetime is a date too, but would never equal the plain dates looked up here.
            if not isinstance(day, date) or isinstance(day, datetime):
                raise TypeError(f"calendar override keys must be dates, got {day!r}")
            if not isinstance(working, bool):
                raise TypeError(f"calendar override for {day.isoformat()} must be True or False, got {working!r}")
            self._overrides[day] = working
        self._official_years = frozenset(official_years or ())
        for year in self._official_years:
            if not isinstance(year, int) or isinstance(year, bool):
                raise TypeError(f"official years must be integers, got {year!r}")
        # The library's range is fixed for the process; asking it per year once is enough.
        self._library_years: dict[int, bool] = {}

    @property
    def official_years(self) -> frozenset[int]:
        return self._official_years

    def _library_knows(self, year: int) -> bool:
        known = self._library_years.get(year)
        if known is None:
            try:
                chinese_calendar.is_workday(date(year, 1, 1))
                known = True
            except NotImplementedError:
                known = False
            self._library_years[year] = known
        return known

    def is_working_day(self, d: date) -> bool:
        if isinstance(d, datetime):
            d = d.date()
        override = self._overrides.get(d)
        if override is not None:
            return override
        if self._library_knows(d.year):
            return chinese_calendar.is_workday(d)
        return d.weekday() < 5

    def coverage(self, year: int) -> str:
        """"official" (the operator's schedule), "library" (chinese-calendar) or "weekends_only"."""
        if year in self._official_years:
            return COVERAGE_OFFICIAL
        if self._library_knows(year):
            return COVERAGE_LIBRARY
        return COVERAGE_WEEKENDS_ONLY

    def uncovered_years(self, years: Iterable[int]) -> list[int]:
        """The years among ``years`` that fall back to weekends-only, sorted, each once."""
        return sorted({year for year in years if self.coverage(year) == COVERAGE_WEEKENDS_ONLY})

    def next_working_day(self, d: date) -> date:
        """The first working day strictly after ``d``."""
        if isinstance(d, datetime):
            d = d.date()
        # Terminates: beyond the finitely many overrides, neither the library nor the weekday rule goes
        # more than a couple of weeks without a working day.
        day = d + _ONE_DAY
        while not self.is_working_day(day):
            day += _ONE_DAY
        return day


def _require_aware(moment: datetime, name: str) -> None:
    if not isinstance(moment, datetime):
        raise ValueError(f"{name} must be a datetime, got {moment!r}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {moment.isoformat()}")


@dataclass(frozen=True)
class DeadlinePolicy:
    """The deadline policy (时限): time zone, working hours and the urgent intervals.

    ``working_hours`` are the day's working periods as (start, end) local times, ascending and not
    overlapping; a list of pairs is accepted and stored as a tuple of tuples.
    """

    timezone: str = "Asia/Shanghai"
    working_hours: WorkingHours = DEFAULT_WORKING_HOURS
    urgent: timedelta = timedelta(minutes=60)
    extra_urgent: timedelta = timedelta(minutes=30)
    off_hours: timedelta = timedelta(hours=2)

    def __post_init__(self):
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
            raise ValueError(f"unknown time zone {self.timezone!r} (an IANA name such as 'Asia/Shanghai')") from exc
        # Normalised so that equal policies compare and hash equal whatever sequence type was given.
        object.__setattr__(self, "working_hours", _check_working_hours("working_hours", self.working_hours))
        for name in ("urgent", "extra_urgent", "off_hours"):
            value = getattr(self, name)
            if not isinstance(value, timedelta) or value <= timedelta(0):
                raise ValueError(f"{name} must be a positive duration, got {value!r}")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)  # ZoneInfo caches its instances per key

    @property
    def workday_start(self) -> time:
        """When the office opens: the start of the first working period."""
        return self.working_hours[0][0]

    @property
    def workday_end(self) -> time:
        """Close of business: the end of the last working period, when normal documents fall due."""
        return self.working_hours[-1][1]

    @classmethod
    def from_config(cls, config: Mapping) -> "DeadlinePolicy":
        """The policy from the service's config; absent (or null) keys keep their defaults.

        ``EXCHANGE_TIMEZONE``, ``EXCHANGE_WORKING_HOURS`` (a string of comma-separated
        "HH:MM-HH:MM" periods, such as "08:30-12:00,14:30-18:00"; spaces around the separators are
        allowed), ``EXCHANGE_URGENT_MINUTES``, ``EXCHANGE_EXTRA_URGENT_MINUTES``,
        ``EXCHANGE_OFF_HOURS_MINUTES``.
        """
        values = {}
        timezone = config.get("EXCHANGE_TIMEZONE")
        if timezone is not None:
            if not isinstance(timezone, str):
                raise ValueError(f"EXCHANGE_TIMEZONE must be an IANA time zone name, got {timezone!r}")
            values["timezone"] = timezone.strip()
        if config.get("EXCHANGE_WORKING_HOURS") is not None:
            values["working_hours"] = _parse_working_hours("EXCHANGE_WORKING_HOURS", config["EXCHANGE_WORKING_HOURS"])
        for key, field in (("EXCHANGE_URGENT_MINUTES", "urgent"),
                           ("EXCHANGE_EXTRA_URGENT_MINUTES", "extra_urgent"),
                           ("EXCHANGE_OFF_HOURS_MINUTES", "off_hours")):
            if config.get(key) is not None:
                values[field] = timedelta(minutes=_parse_minutes(key, config[key]))
        return cls(**values)

    def in_working_hours(self, moment: datetime, calendar: WorkingCalendar) -> bool:
        """Whether ``moment`` falls on a working day, at or after the start and before the end of a period.

        Between periods (the lunch break) is outside working hours, as before opening and after closing.
        """
        _require_aware(moment, "moment")
        local = moment.astimezone(self.zone)
        if not calendar.is_working_day(local.date()):
            return False
        at = local.time()
        return any(start <= at < end for start, end in self.working_hours)

    def due_at(self, sent_at: datetime, urgency: str, calendar: WorkingCalendar) -> datetime:
        """When a receipt of a document sent at ``sent_at`` with ``urgency`` falls due, in UTC."""
        if urgency not in URGENCIES:
            raise ValueError(f"unknown urgency {urgency!r}; expected one of {', '.join(URGENCIES)}")
        _require_aware(sent_at, "sent_at")
        if urgency == "normal":
            local = sent_at.astimezone(self.zone)
            due_day = calendar.next_working_day(local.date())
            return datetime.combine(due_day, self.workday_end, tzinfo=self.zone).astimezone(UTC)
        if self.in_working_hours(sent_at, calendar):
            interval = self.urgent if urgency == "urgent" else self.extra_urgent
        else:
            interval = self.off_hours
        # Add in UTC: aware arithmetic within one zone is wall-clock and would be off across a DST change.
        return sent_at.astimezone(UTC) + interval


def _span(start: time, end: time) -> str:
    return f"{start.isoformat(timespec='minutes')}–{end.isoformat(timespec='minutes')}"


def _check_working_hours(name: str, periods) -> WorkingHours:
    """``periods`` as a tuple of (start, end) pairs, or ValueError naming ``name`` if they are not valid."""
    if isinstance(periods, str | bytes) or not isinstance(periods, Sequence):
        raise ValueError(f"{name} must be a sequence of (start, end) periods, got {periods!r}")
    checked: list[tuple[time, time]] = []
    for period in periods:
        if isinstance(period, str | bytes) or not isinstance(period, Sequence) or len(period) != 2:
            raise ValueError(f"{name}: each period must be a (start, end) pair of times, got {period!r}")
        start, end = period
        for value in (start, end):
            if not isinstance(value, time) or value.tzinfo is not None:
                raise ValueError(f"{name}: each period must be a pair of naive local times, got {value!r}")
        # An office day never spans midnight; an inverted period would never be working hours.
        if start >= end:
            raise ValueError(f"{name}: each period must start before it ends, got {_span(start, end)}")
        if checked:
            previous = checked[-1]
            if start < previous[0]:
                raise ValueError(f"{name}: periods must be in ascending order, got {_span(start, end)} "
                                 f"after {_span(*previous)}")
            if start < previous[1]:
                raise ValueError(f"{name}: periods must not overlap, got {_span(*previous)} "
                                 f"and {_span(start, end)}")
        checked.append((start, end))
    if not checked:
        raise ValueError(f"{name} must have at least one working period")
    return tuple(checked)


def _parse_working_hours(key: str, value) -> WorkingHours:
    if not isinstance(value, str):
        # YAML 1.1 (and so nameko's config) reads an unquoted 17:30 as the base-60 integer 1050.
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        hint = " (YAML reads an unquoted 17:30 as 1050)" if numeric else ""
        raise ValueError(f"{key} must be a quoted string such as \"08:30-12:00,14:30-18:00\", got {value!r}"
                         f"{hint}: quote it or use !raw_env_var")
    if not value.strip():
        raise ValueError(f"{key} must have at least one working period, got {value!r}")
    periods = []
    for part in value.split(","):
        bounds = part.split("-")
        if len(bounds) != 2:
            raise ValueError(f"{key} must be comma-separated \"HH:MM-HH:MM\" periods, got {part.strip()!r} "
                             f"in {value!r}")
        periods.append(tuple(_parse_clock_time(key, bound, value) for bound in bounds))
    return _check_working_hours(key, periods)


def _parse_clock_time(key: str, text: str, value: str) -> time:
    match = _HH_MM.match(text.strip())
    if match is None:
        raise ValueError(f"{key} times must be \"HH:MM\", got {text.strip()!r} in {value!r}")
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour > 23 or minute > 59:
        raise ValueError(f"{key} times must be between 00:00 and 23:59, got {text.strip()!r} in {value!r}")
    return time(hour, minute)


def _parse_minutes(key: str, value) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{key} must be a whole number of minutes, got {value!r}")
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int):
        raise ValueError(f"{key} must be a whole number of minutes, got {value!r}")
    if value <= 0:
        raise ValueError(f"{key} must be a positive number of minutes, got {value}")
    return value
