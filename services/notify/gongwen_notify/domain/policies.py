"""Escalation policies as data (催办策略): ordered steps, each *when* (``after`` the send or the
receipt's due time), *whom* (``audience``), *how* (``channel``) and *how often* (``repeat``), plus
quiet hours for normal documents. The operator sets the default of each urgency; a unit's admin
may tighten, never loosen, the default for their own unit.

**Tighter**, precisely: expand each policy into its occurrences, ``(from, audience, channel,
offset)`` with one offset per firing (``after``, then ``after + k·every`` for each repeat). A
unit's policy U is tighter than (or as tight as) the default D when, for every
``(from, audience, channel)``, U has at least as many occurrences as D and U's i-th earliest is
no later than D's i-th earliest (every alert D makes, U makes no later); and U's quiet hours,
if any, lie within D's (U may be quiet for less time, never more; D without quiet hours allows
U none). U may add steps, audiences and channels freely."""
from collections import defaultdict
from datetime import datetime, time, timedelta

from sqlalchemy import select

from gongwen_common.audit import Caller
from gongwen_common.errors import Forbidden, NotFound, ValidationFailed, validated
from gongwen_contracts.notify.schemas import URGENCIES, PolicySchema, UnitPolicySchema

from ..models import PolicyRecord
from .changes import announce, digest
from .settings import NotifySettings, duration

DEFAULT = ""  # the unit_code of the operator's defaults


def occurrences(policy: dict) -> dict[tuple, list[timedelta]]:
    """``(from, audience, channel)`` → the sorted offsets at which the policy alerts."""
    found = defaultdict(list)
    for step in policy["steps"]:
        first = duration(step["after"])
        found[(step["from_"], step["audience"], step["channel"])].append(first)
        repeat = step.get("repeat")
        if repeat:
            every = duration(repeat["every"])
            found[(step["from_"], step["audience"], step["channel"])].extend(
                first + every * k for k in range(1, repeat["times"] + 1))
    return {key: sorted(offsets) for key, offsets in found.items()}


def _minutes(clock_time: str) -> int:
    hours, minutes = clock_time.split(":")
    return int(hours) * 60 + int(minutes)


def _quiet_minutes(quiet) -> set[int]:
    """The minutes of the day (0–1439) that quiet hours cover; they may wrap past midnight."""
    if not quiet:
        return set()
    start, end = _minutes(quiet["start"]), _minutes(quiet["end"])
    return set(range(start, end)) if start < end else set(range(start, 1440)) | set(range(0, end))


def looser_than(unit: dict, default: dict) -> list[str]:
    """How ``unit`` would loosen ``default`` (empty: it is tighter or as tight)."""
    problems = []
    theirs = occurrences(unit)
    for key, offsets in sorted(occurrences(default).items()):
        mine = theirs.get(key, [])
        start, audience, channel = key
        if len(mine) < len(offsets):
            problems.append(f"{audience} by {channel} from {start}: {len(mine)} alert(s) where the default has "
                            f"{len(offsets)}")
        elif any(m > d for m, d in zip(mine, offsets, strict=False)):
            problems.append(f"{audience} by {channel} from {start}: an alert later than the default's")
    if not _quiet_minutes(unit.get("quiet_hours")) <= _quiet_minutes(default.get("quiet_hours")):
        problems.append("quiet hours beyond the default's")
    return problems


def is_tighter(unit: dict, default: dict) -> bool:
    return not looser_than(unit, default)


def defer_past_quiet_hours(moment: datetime, quiet, settings: NotifySettings) -> datetime:
    """``moment`` if it is outside quiet hours (Asia/Shanghai), else the end of those quiet hours."""
    covered = _quiet_minutes(quiet)
    local = moment.astimezone(settings.timezone)
    if local.hour * 60 + local.minute not in covered:
        return moment
    end = time.fromisoformat(quiet["end"])
    ends = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if ends <= local:
        ends += timedelta(days=1)
    return ends.astimezone(moment.tzinfo)


# -- stored policies -------------------------------------------------------------------------

def _check_urgency(urgency) -> str:
    if urgency not in URGENCIES:
        raise NotFound(message=f"no urgency {urgency!r}; one of {', '.join(URGENCIES)}")
    return urgency


def _record(session, unit_code, urgency, lock=False) -> PolicyRecord | None:
    return session.get(PolicyRecord, (unit_code, urgency), with_for_update=lock or None)


def default_policy(session, urgency, settings: NotifySettings) -> tuple[dict, PolicyRecord | None]:
    record = _record(session, DEFAULT, urgency)
    return (record.policy if record else settings.policies[urgency]), record


def effective_policy(session, unit_code, urgency, settings: NotifySettings) -> dict:
    """The unit's own policy while it is still tighter than the default (a default the operator
    tightened since wins over a unit policy it no longer satisfies), else the default."""
    return effective_policies(session, {unit_code}, urgency, settings)[unit_code]


def effective_policies(session, unit_codes, urgency, settings: NotifySettings) -> dict:
    """``effective_policy`` of each unit, read in two statements whatever their number."""
    default, _ = default_policy(session, urgency, settings)
    own = {record.unit_code: record.policy for record in session.scalars(select(PolicyRecord).where(
        PolicyRecord.unit_code.in_(list(unit_codes)), PolicyRecord.urgency == urgency))} if unit_codes else {}
    return {code: own[code] if code in own and is_tighter(own[code], default) else default for code in unit_codes}


def _view(policy, urgency, unit_code, source, record) -> dict:
    return {**_dump(policy), "urgency": urgency, "unit_code": unit_code, "source": source,
            "updated_by": record.updated_by if record else None,
            "updated_at": record.updated_at.isoformat() if record else None}


def _dump(policy: dict) -> dict:
    return PolicySchema().dump(policy)


def _load(body) -> dict:
    return validated(PolicySchema(), body if isinstance(body, dict) else {})


def _require_operator(actor) -> Caller:
    caller = Caller.of(actor)
    if not caller.is_operator:
        raise Forbidden(message="Only the operator sets the default escalation policies.")
    return caller


def get_default(session, urgency, actor, settings) -> dict:
    _require_operator(actor)
    policy, record = default_policy(session, _check_urgency(urgency), settings)
    return _view(policy, urgency, None, "operator" if record else "config", record)


def put_default(session, urgency, body, actor, settings, now) -> dict:
    caller = _require_operator(actor)
    _check_urgency(urgency)
    policy = _load(body)
    record = _record(session, DEFAULT, urgency, lock=True)
    before = record.policy if record else settings.policies[urgency]
    if record is None:
        record = PolicyRecord(unit_code=DEFAULT, urgency=urgency)
        session.add(record)
    record.policy, record.updated_by, record.updated_at = policy_json(policy), caller.user_id, now
    _announce(session, now, caller, None, urgency, before, record.policy)
    return _view(policy, urgency, None, "operator", record)


def _announce(session, now, caller, unit_code, urgency, before, after) -> None:
    """``notify_policy_changed``: whose policy (``unit_code`` None: the operator's default), the
    digests of what it was and is (None: none of its own) and the new policy as stored."""
    announce(session, now, caller, "notify_policy_changed", "notify_policy", f"{unit_code or DEFAULT}/{urgency}",
             {"unit_code": unit_code, "urgency": urgency, "before_sha256": digest(before),
              "after_sha256": digest(after), "policy": after})


def policy_json(policy: dict) -> dict:
    """A loaded policy as stored (JSON, loadable again; ``from_`` is kept as loaded)."""
    return {"steps": [{**step} for step in policy["steps"]], "quiet_hours": policy.get("quiet_hours")}


def _unit_caller(actor, unit_code, write) -> Caller:
    caller = Caller.of(actor)
    if caller.is_operator and not write:
        return caller
    if caller.unit_code != unit_code:
        raise NotFound(message=f"no unit {unit_code!r}")  # another unit's: existence does not leak
    if not caller.has("admin"):
        raise Forbidden(message="Only the unit's admin sets its notification policy.")
    return caller


def get_unit(session, unit_code, actor, settings) -> dict:
    if not isinstance(unit_code, str):
        raise NotFound(message="no such unit")
    _unit_caller(actor, unit_code, write=False)
    policies = {}
    for urgency in URGENCIES:
        default, default_record = default_policy(session, urgency, settings)
        own = _record(session, unit_code, urgency)
        if own is not None and is_tighter(own.policy, default):
            policies[urgency] = _view(own.policy, urgency, unit_code, "unit", own)
        else:
            policies[urgency] = _view(default, urgency, None, "operator" if default_record else "config",
                                      default_record)
    return {"unit_code": unit_code, "policies": policies}


def put_unit(session, unit_code, body, actor, settings, now) -> dict:
    """Set the unit's own policies (each given urgency; null: back to the default). A policy
    looser than the default is refused with what loosens it (422 POLICY_LOOSER)."""
    if not isinstance(unit_code, str):
        raise NotFound(message="no such unit")
    caller = _unit_caller(actor, unit_code, write=True)
    data = validated(UnitPolicySchema(), body if isinstance(body, dict) else {})
    if not data:
        raise ValidationFailed({"_schema": ["give the policy of at least one urgency"]})
    looser = {}
    for urgency, policy in data.items():
        if policy is not None:
            problems = looser_than(policy, default_policy(session, urgency, settings)[0])
            if problems:
                looser[urgency] = problems
    if looser:
        raise PolicyLooser(fields=looser)
    for urgency, policy in data.items():
        record = _record(session, unit_code, urgency, lock=True)
        before = record.policy if record else None
        if policy is None:
            if record is not None:
                session.delete(record)
                _announce(session, now, caller, unit_code, urgency, before, None)
            continue
        if record is None:
            record = PolicyRecord(unit_code=unit_code, urgency=urgency)
            session.add(record)
        record.policy, record.updated_by, record.updated_at = policy_json(policy), caller.user_id, now
        _announce(session, now, caller, unit_code, urgency, before, record.policy)
    session.flush()
    return get_unit(session, unit_code, actor, settings)


class PolicyLooser(ValidationFailed):
    code, status = "POLICY_LOOSER", 422

    def __init__(self, fields):
        super().__init__(fields, message="A unit may tighten its notification policy, never loosen it.")


def stored_units(session) -> list[str]:
    return list(session.scalars(select(PolicyRecord.unit_code).where(PolicyRecord.unit_code != DEFAULT).distinct()))
