"""applied → active → revoked, and renames, with their events and refusals."""
from datetime import UTC, datetime
from unittest.mock import ANY

import pytest
from sqlalchemy import select

from gongwen_common.tables import OutboxEvent
from gongwen_registry.models import AuditRecord


def test_approving_an_application_makes_the_unit_active(registry):
    registry.unit("aa", status="applied")
    unit = registry.service.approve_unit("aa", actor=registry.operator)
    assert unit["status"] == "active"
    assert registry.events("unit_approved") == [("unit_approved", {"unit": unit})]
    assert registry.row("aa").approved_by == "op-1"


@pytest.mark.parametrize("status", ["active", "revoked"])
def test_only_an_application_can_be_approved(registry, status):
    registry.unit("aa", status=status)
    registry.refuses("UNIT_NOT_APPLIED", 409, registry.service.approve_unit, "aa")


@pytest.mark.parametrize("call, args", [
    ("approve_unit", ()), ("rename_unit", ({"name": "新名称"},)),
    ("revoke_unit", ({"reason": "撤销", "documents": "keep"},)),
])
def test_changing_an_unknown_unit_is_not_found(registry, call, args):
    registry.refuses("UNIT_NOT_FOUND", 404, getattr(registry.service, call), "nobody", *args)


def test_renames_keep_every_former_name_with_when_it_was_borne(registry):
    created = registry.unit("aa")
    registry.service.rename_unit("aa", {"name": "第二名称"}, actor=registry.operator)
    unit = registry.service.rename_unit("aa", {"name": "第三名称"}, actor={"user_id": 7, "roles": ["operator"]})
    assert (unit["name"], unit["former_names"]) == ("第三名称", ["单位aa", "第二名称"])
    first, second = registry.row("aa").name_history
    assert first.valid_from.isoformat() == created["created_at"] and first.valid_to == second.valid_from
    assert (first.changed_by, second.changed_by) == ("op-1", "7")
    assert registry.events("unit_renamed")[-1] == (
        "unit_renamed", {"unit": unit, "old_name": "第二名称", "new_name": "第三名称"})


@pytest.mark.parametrize("status, name, code, http_status", [
    ("revoked", "新名称", "UNIT_REVOKED", 409),
    ("active", "单位aa", "NAME_UNCHANGED", 409),  # its current name: the unit's state refuses it, not the shape
    ("active", "新", "VALIDATION_ERROR", 400),
])
def test_refused_renames(registry, status, name, code, http_status):
    registry.unit("aa", status=status)
    registry.refuses(code, http_status, registry.service.rename_unit, "aa", {"name": name})


def test_revoking_with_transfer_records_the_decision_and_its_successor(registry):
    registry.unit("aa")
    registry.unit("bb")
    unit = registry.service.revoke_unit("aa", {"reason": "机构改革", "documents": "transfer", "successor_code": "bb"},
                                        actor=registry.operator)
    assert unit["status"] == "revoked"
    assert unit["revocation"] == {"reason": "机构改革", "documents": "transfer", "successor_code": "bb",
                                  "revoked_by": "op-1", "revoked_at": ANY}
    assert registry.events("unit_revoked") == [("unit_revoked", {
        "unit": unit, "reason": "机构改革", "documents": "transfer", "successor_code": "bb"})]


@pytest.mark.parametrize("documents", ["keep", "archive"])
def test_revoking_without_a_successor(registry, documents):
    registry.unit("aa")
    unit = registry.service.revoke_unit("aa", {"reason": "撤销", "documents": documents})
    assert unit["revocation"]["documents"] == documents and unit["revocation"]["revoked_by"] == "system"
    assert registry.events("unit_revoked")[0][1]["successor_code"] is None


@pytest.mark.parametrize("reason, documents, successor, code, http_status", [
    ("撤销", "transfer", "nobody", "UNKNOWN_SUCCESSOR_UNIT", 422),
    ("撤销", "transfer", "aa", "INVALID_SUCCESSOR", 422),
    ("撤销", "transfer", "gone", "INVALID_SUCCESSOR", 422),
    ("撤销", "transfer", "pending", "INVALID_SUCCESSOR", 422),
    ("撤销", "transfer", None, "VALIDATION_ERROR", 400),
    ("撤销", "keep", "bb", "VALIDATION_ERROR", 400),
    ("撤销", "shred", None, "VALIDATION_ERROR", 400),
    ("  ", "keep", None, "VALIDATION_ERROR", 400),
])
def test_refused_revocations(registry, reason, documents, successor, code, http_status):
    for unit_code, status in (("aa", "active"), ("bb", "active"), ("gone", "revoked"), ("pending", "applied")):
        registry.unit(unit_code, status=status)
    decision = {"reason": reason, "documents": documents, "successor_code": successor}
    registry.refuses(code, http_status, registry.service.revoke_unit, "aa", decision)


def test_a_revoked_unit_cannot_be_revoked_again(registry):
    registry.unit("aa", status="revoked")
    registry.refuses("UNIT_REVOKED", 409, registry.service.revoke_unit, "aa", {"reason": "再撤销", "documents": "keep"})


def test_an_application_is_turned_down_by_revoking_it(registry):
    registry.unit("aa", status="applied")
    assert registry.service.revoke_unit("aa", {"reason": "材料不全", "documents": "keep"})["status"] == "revoked"



def test_every_change_carries_a_higher_unit_version_for_ordering_consumers(registry):
    service = registry.service
    service.register_unit({"code": "aa", "name": "单位甲", "kind": "department"})
    service.approve_unit("aa")
    service.rename_unit("aa", {"name": "单位乙"})
    versions = [(data.get("unit") or data)["version"] for _, data in registry.events()]
    assert versions == [1, 2, 3]


def test_a_units_times_and_audit_follow_the_registrys_clock(registry):
    """Every rule's "now" is the injected clock: moving it moves what is recorded."""
    registered = registry.unit("aa", status="applied")
    approved_at = registry.clock.advance(days=2)
    registry.service.approve_unit("aa", actor=registry.operator)
    renamed_at = registry.clock.advance(hours=5)
    registry.service.rename_unit("aa", {"name": "第二名称"}, actor=registry.operator)
    row = registry.row("aa")
    assert registered["created_at"] == "2026-11-21T09:00:00+00:00"
    assert (row.approved_at, row.name_history[0].valid_to) == (approved_at, renamed_at)
    audit = [(r.action, r.occurred_at) for r in registry.session.scalars(select(AuditRecord).order_by(AuditRecord.id))]
    assert audit == [("unit_registered", datetime(2026, 11, 21, 9, tzinfo=UTC)), ("unit_approved", approved_at),
                     ("unit_renamed", renamed_at)]
    rows = registry.session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))
    occurred = [row.payload["occurred_at"] for row in rows]
    assert occurred == [at.isoformat() for at in (datetime(2026, 11, 21, 9, tzinfo=UTC), approved_at, renamed_at)]


@pytest.mark.parametrize("reason, accepted", [
    ("\u001f", False), ("\x85 \u3000", False), ("\t\n", False),  # white space by Python's \s, not all by ECMA's
    ("\ufeff", False), ("机构改革", True), (" 撤销 ", True),
])
def test_a_revocation_reason_is_refused_as_blank_exactly_as_the_document_says(registry, reason, accepted):
    """The document's pattern and the registry's check name the same white space: a reason of only
    \\x1f passed the document (ECMA) and was refused by Python's \\S."""
    import re

    from gongwen_contracts.registry.schemas import NOT_ONLY_SPACE

    registry.unit("aa")
    assert bool(re.search(NOT_ONLY_SPACE, reason)) is accepted
    if accepted:
        assert registry.service.revoke_unit("aa", {"reason": reason, "documents": "keep"},
                                            actor=registry.operator)["status"] == "revoked"
    else:
        registry.refuses("VALIDATION_ERROR", 400, registry.service.revoke_unit, "aa",
                         {"reason": reason, "documents": "keep"}, actor=registry.operator)
