"""Who changed notify's rules is kept: each accepted edit of a default policy, a unit's tightening
(or its return to the default) and a template (text or approval) is an audit record and an event
(``notify_policy_changed``, ``notify_template_changed``) that the archive's ledger keeps; a refused
edit leaves neither."""
from sqlalchemy import select

from gongwen_contracts.events import load_event_data
from gongwen_notify.domain.changes import digest
from gongwen_notify.models import AuditRecord

OPERATOR = {"user_id": "op", "unit_code": "operator", "roles": ["operator"]}
ADMIN = {"user_id": "admin-r1", "unit_code": "r1", "roles": ["admin"]}
PROXY = {"user_id": "admin-r1", "proxy_user_id": "leader-r1", "unit_code": "r1", "roles": ["admin"]}
TEMPLATE = "【公文交换】{sender}发来{urgency}公文{doc_number}《{title}》，请于{due}（北京时间）前签收：{link}"


def audit(notify, action):
    return list(notify.session.scalars(select(AuditRecord).where(AuditRecord.action == action)
                                       .order_by(AuditRecord.id)))


def stored_steps(notify, urgency):
    return [{k: v for k, v in step.items() if v is not None}
            for step in notify.call("get_policy", urgency, OPERATOR)["steps"]]


def test_an_operators_policy_edit_is_audited_and_announced_with_the_before_and_after(notify):
    shipped = notify.call("get_policy", "extra_urgent", OPERATOR)
    steps = stored_steps(notify, "extra_urgent")
    notify.call("put_policy", "extra_urgent", {"steps": steps[:2]}, OPERATOR)
    [event] = notify.events("notify_policy_changed")
    load_event_data("notify", "notify_policy_changed", event)  # the contract's schema holds it
    assert (event["unit_code"], event["urgency"], event["changed_by"], event["proxy_user_id"]) == \
        (None, "extra_urgent", "op", None)
    assert [s["after"] for s in event["policy"]["steps"]] == ["0m", "0m"]
    assert event["after_sha256"] == digest(event["policy"]) != event["before_sha256"]
    assert event["before_sha256"] == digest(notify.service._settings().policies["extra_urgent"])
    assert shipped["source"] == "config"
    [record] = audit(notify, "notify_policy_changed")
    assert (record.actor, record.subject_type, record.subject_id) == ("op", "notify_policy", "/extra_urgent")
    assert record.details["after_sha256"] == event["after_sha256"]


def test_a_refused_policy_or_template_edit_leaves_no_audit_record_and_no_event(notify):
    steps = stored_steps(notify, "urgent")
    assert notify.refused("put_policy", "urgent", {"steps": steps}, ADMIN).code == "FORBIDDEN"
    assert notify.refused("put_policy", "urgent", {"steps": [{"after": "soon"}]}, OPERATOR).code == \
        "VALIDATION_ERROR"
    assert notify.refused("put_unit_policy", "r1", {"urgent": {"steps": steps[:1]}}, ADMIN).code == "POLICY_LOOSER"
    assert notify.refused("put_template", "urgent_alert", {"text": "请回复确认", "approved": True},
                          OPERATOR).code == "VALIDATION_ERROR"
    assert notify.refused("put_template", "urgent_alert", {"text": TEMPLATE, "approved": True},
                          ADMIN).code == "FORBIDDEN"
    assert notify.events("notify_policy_changed") == notify.events("notify_template_changed") == []
    assert notify.session.scalars(select(AuditRecord)).all() == []


def test_a_unit_admins_tightening_and_its_return_to_the_default_are_audited_with_the_proxy(notify):
    steps = stored_steps(notify, "urgent")
    tighter = [*steps[:2], {**steps[2], "after": "10m"}, *steps[3:]]
    notify.call("put_unit_policy", "r1", {"urgent": {"steps": tighter}}, PROXY)
    notify.call("put_unit_policy", "r1", {"urgent": None}, ADMIN)
    notify.call("put_unit_policy", "r1", {"urgent": None}, ADMIN)  # nothing of its own left: no change
    tightened, returned = notify.events("notify_policy_changed")
    for event in (tightened, returned):
        load_event_data("notify", "notify_policy_changed", event)
    assert (tightened["unit_code"], tightened["urgency"], tightened["before_sha256"]) == ("r1", "urgent", None)
    assert (tightened["changed_by"], tightened["proxy_user_id"]) == ("admin-r1", "leader-r1")
    assert tightened["policy"]["steps"][2]["after"] == "10m"
    assert (returned["policy"], returned["after_sha256"], returned["before_sha256"]) == \
        (None, None, tightened["after_sha256"])
    records = audit(notify, "notify_policy_changed")
    assert [(r.actor, r.proxy_user_id, r.subject_id) for r in records] == [
        ("admin-r1", "leader-r1", "r1/urgent"), ("admin-r1", None, "r1/urgent")]


def test_a_template_edit_and_its_approval_are_audited_and_announced_with_the_new_text(notify):
    shipped = notify.call("get_template", "urgent_alert", OPERATOR)["text"]
    notify.call("put_template", "urgent_alert", {"text": TEMPLATE, "approved": False}, OPERATOR)
    notify.call("put_template", "urgent_alert", {"text": TEMPLATE, "approved": True}, OPERATOR)
    edited, approved = notify.events("notify_template_changed")
    for event in (edited, approved):
        load_event_data("notify", "notify_template_changed", event)
    assert (edited["name"], edited["text"], edited["approved"], edited["was_approved"]) == \
        ("urgent_alert", TEMPLATE, False, True)
    assert edited["before_sha256"] == digest(shipped) and edited["after_sha256"] == digest(TEMPLATE)
    assert (approved["approved"], approved["was_approved"], approved["before_sha256"]) == \
        (True, False, digest(TEMPLATE))
    assert [(r.actor, r.subject_type, r.subject_id, r.details["approved"])
            for r in audit(notify, "notify_template_changed")] == [
        ("op", "notify_template", "urgent_alert", False), ("op", "notify_template", "urgent_alert", True)]
