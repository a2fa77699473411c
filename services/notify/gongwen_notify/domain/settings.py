"""Notify's settings from its config (``services/notify/config.yaml``): the carriers' rules as
policy, the link's base URL, the timer's lease, and the default escalation policies and
templates the operator starts from."""
from dataclasses import dataclass, field
from datetime import timedelta
from zoneinfo import ZoneInfo

from gongwen_common.errors import validated
from gongwen_contracts.notify.schemas import DURATION, URGENCIES, PolicySchema

from . import texts

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def duration(value: str) -> timedelta:
    match = DURATION.match(value if isinstance(value, str) else "")
    if match is None:
        raise ValueError(f"not a duration: {value!r} (e.g. 30s, 15m, 2h, 1d)")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


@dataclass(frozen=True)
class NotifySettings:
    link_base_url: str = "http://127.0.0.1:8080/l/"
    link_ttl: timedelta = timedelta(days=90)  # a text's short link resolves this long after the send
    timezone: ZoneInfo = ZoneInfo("Asia/Shanghai")
    combine_window: timedelta = timedelta(minutes=10)  # reminders for one person within it: one SMS
    same_text_per_day: int = 2  # the same text to one number at most twice in 24 hours
    daily_cap: int = 20  # SMS and calls to one number per 24 hours
    segment_budget: int = 2  # parts a text may take; the title is cut to fit
    reserved_units: int = 12  # room kept for what delivery adds to the text (its reference)
    claim_lease: timedelta = timedelta(seconds=30)
    batch_size: int = 100
    policies: dict = field(default_factory=dict)  # urgency → policy (as PolicySchema loads it)
    templates: dict = field(default_factory=dict)  # name → text (shipped approved)

    @classmethod
    def from_config(cls, config) -> "NotifySettings":
        values = {}
        if config.get("NOTIFY_LINK_BASE_URL"):
            values["link_base_url"] = str(config["NOTIFY_LINK_BASE_URL"])
        if config.get("NOTIFY_TIMEZONE"):
            values["timezone"] = ZoneInfo(str(config["NOTIFY_TIMEZONE"]))
        for key, name in (("NOTIFY_COMBINE_WINDOW", "combine_window"), ("NOTIFY_CLAIM_LEASE", "claim_lease"),
                          ("NOTIFY_LINK_TTL", "link_ttl")):
            if config.get(key) is not None:
                raw = config[key]
                values[name] = timedelta(seconds=float(raw)) if isinstance(raw, int | float) else duration(raw)
        for key, name in (("NOTIFY_SAME_TEXT_PER_DAY", "same_text_per_day"), ("NOTIFY_DAILY_CAP", "daily_cap"),
                          ("NOTIFY_SEGMENT_BUDGET", "segment_budget"), ("NOTIFY_RESERVED_UNITS", "reserved_units"),
                          ("NOTIFY_BATCH_SIZE", "batch_size")):
            if config.get(key) is not None:
                values[name] = int(config[key])
        policies = config.get("NOTIFY_POLICIES") or {}
        unknown = set(policies) - set(URGENCIES)
        if unknown:
            raise ValueError(f"NOTIFY_POLICIES: unknown urgencies {sorted(unknown)}")
        values["policies"] = {urgency: validated(PolicySchema(), policies.get(urgency) or {"steps": []},
                                                 under=f"NOTIFY_POLICIES.{urgency}") for urgency in URGENCIES}
        templates = {str(name): str(text) for name, text in (config.get("NOTIFY_TEMPLATES") or {}).items()}
        missing = set(texts.PLACEHOLDERS) - set(templates)
        if missing:
            raise ValueError(f"NOTIFY_TEMPLATES: missing {sorted(missing)}")
        for name, text in templates.items():
            problems = texts.template_problems(name, text)
            if problems:
                raise ValueError(f"NOTIFY_TEMPLATES.{name}: {'; '.join(problems)}")
        values["templates"] = templates
        return cls(**values)
