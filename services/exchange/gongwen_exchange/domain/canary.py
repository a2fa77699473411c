"""The canary (探针): on a schedule, the operator's canary unit sends itself a sealed document and
signs for it, through the real rules and the seal service (sealing, then the seal check of 签收);
health reports the last round trip and fails when none completed within ``CANARY_MAX_AGE_SECONDS``.

Once with N instances: the round is the claim of the one ``canary_state`` row while it is due
(``gongwen_common.claims``), so only the claiming instance runs it. A round commits in steps (claim,
send, sign for, result) so that what it did is kept even when a later step fails.

Its documents are the canary unit's only: issued by it, addressed to it, numbered ``CANARY-…``
and sent by the actor ``canary``; nobody else's inbox shows them. A canary unit without an active
seal (or unknown to the exchange) is "not configured", not failing: the operator sets one up.
"""
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

from gongwen_common import claims
from gongwen_common.db import insert_new
from gongwen_common.settings import setting

from ..models import CanaryState
from .errors import DomainError

log = logging.getLogger(__name__)

NAME = "canary"
ACTOR_ID = "canary"
DOC_PREFIX = "CANARY-"
# The canary's unit or seal is not there (yet): the operator has not set it up.
NOT_CONFIGURED = ("UNKNOWN_UNIT", "SEAL_NOT_ACTIVE", "CUSTODY_APPROVAL_REQUIRED")


@dataclass(frozen=True)
class CanarySettings:
    unit_code: str
    interval: float
    max_age: float

    @classmethod
    def from_config(cls, config) -> "CanarySettings":
        return cls(str(setting(config, "CANARY_UNIT_CODE", "")).strip(),
                   setting(config, "CANARY_INTERVAL_SECONDS", 300.0), setting(config, "CANARY_MAX_AGE_SECONDS", 900.0))

    @property
    def lease(self) -> timedelta:
        """How long a claimed round is the claimer's: longer than a round may take."""
        return timedelta(seconds=max(60.0, self.interval))


def actor(unit_code: str) -> dict:
    """The canary acts as its unit's clerk (sender and receiver) under a name no person has."""
    return {"user_id": ACTOR_ID, "unit_code": unit_code, "roles": ["clerk"]}


def metadata(unit_code: str) -> dict:
    return {"doc_number": f"{DOC_PREFIX}{uuid.uuid4().hex[:16]}", "title": "Canary round trip (探针, health check)",
            "signer": ACTOR_ID, "urgency": "normal", "secrecy": "none", "main_recipients": [unit_code]}


def run_round(session, settings: CanarySettings, send, sign_for, clock, owner) -> dict | None:
    """One round if it is due and this instance claims it (else None). ``send(metadata, actor)``
    returns the sent document's view; ``sign_for(document_id, actor)`` signs for its receipt."""
    if not settings.unit_code:
        return None
    now = clock()
    insert_new(session, CanaryState, name=NAME, since=now, due_at=now)
    claimed = claims.claim(session, CanaryState, CanaryState.name == NAME, CanaryState.due_at <= now, now=now,
                           until=now + settings.lease, owner=owner, limit=1)
    session.commit()
    if not claimed:
        return None
    started, document_id, who = clock(), None, actor(settings.unit_code)
    try:
        sent = send(metadata(settings.unit_code), who)
        if sent["status"] != "sent":  # rolled back below: no document waits for custodians forever
            raise DomainError("CUSTODY_APPROVAL_REQUIRED", "the canary unit's seal is under two-person custody; "
                                                           "give it a seal needing one approval")
        document_id = sent["id"]
        session.commit()
        sign_for(document_id, who)
        session.commit()
        outcome, error = "completed", None
    except DomainError as refused:
        session.rollback()
        outcome = "not_configured" if refused.code in NOT_CONFIGURED else "failed"
        error = f"{refused.code}: {refused.message}"
    except Exception as exc:  # a broken round is what the canary is for: recorded, never raised
        session.rollback()
        log.exception("canary round failed")  # its text may name hosts: the log, not the public /health
        outcome, error = "failed", f"{type(exc).__name__}; see the exchange's log"
    finished = clock()
    state = session.get(CanaryState, NAME, with_for_update=True)
    state.started_at, state.document_id, state.outcome, state.error = started, document_id, outcome, error
    if outcome == "completed":
        state.completed_at, state.round_trip_seconds = finished, round((finished - started).total_seconds(), 3)
    else:
        state.failed_at = finished
    state.due_at = started + timedelta(seconds=settings.interval)
    state.claimed_by = state.claimed_until = None
    session.commit()
    return view(session, settings, finished)


def _iso(moment):
    return moment.isoformat() if moment else None


def view(session, settings: CanarySettings, now) -> dict:
    """What health shows: ``status`` ok, failing (no round completed within the bound) or
    not_configured, with the last round trip (when, how long) and the last error."""
    if not settings.unit_code:
        return {"status": "not_configured", "detail": "CANARY_UNIT_CODE is not set"}
    state = session.get(CanaryState, NAME)
    answer = {"unit_code": settings.unit_code, "max_age_seconds": settings.max_age}
    if state is None:
        return {**answer, "status": "not_configured", "detail": "no round has run yet"}
    answer.update(last_started_at=_iso(state.started_at), last_completed_at=_iso(state.completed_at),
                  round_trip_seconds=state.round_trip_seconds, last_document_id=state.document_id,
                  last_outcome=state.outcome, last_error=state.error, last_failed_at=_iso(state.failed_at))
    if state.outcome == "not_configured":
        return {**answer, "status": "not_configured", "detail": state.error}
    bound = timedelta(seconds=settings.max_age)
    if state.completed_at is not None and now - state.completed_at <= bound:
        return {**answer, "status": "ok"}
    if state.completed_at is None and now - state.since <= bound:
        return {**answer, "status": "ok", "detail": "the first round is under way"}
    return {**answer, "status": "failing",
            "detail": f"no round trip completed in the last {settings.max_age:g}s"}
