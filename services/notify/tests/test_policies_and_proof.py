"""Who may set policies, a unit admin's tightening (never loosening), and who sees a document's
notifications (the sender all, a recipient its own, masked numbers)."""
OPERATOR = {"user_id": "op", "unit_code": "operator", "roles": ["operator"]}


def admin_of(code):
    return {"user_id": f"admin-{code}", "unit_code": code, "roles": ["admin"]}


def test_the_operator_edits_the_default_policies_and_nobody_else(notify):
    shipped = notify.call("get_policy", "extra_urgent", OPERATOR)
    assert shipped["source"] == "config" and shipped["steps"][0] == {
        "after": "0m", "from": "sent", "audience": "recipient_clerks", "channel": "sms", "repeat": None,
        "template": None}
    edited = notify.call("put_policy", "extra_urgent", {"steps": shipped["steps"][:2]}, OPERATOR)
    assert edited["source"] == "operator" and edited["updated_by"] == "op" and len(edited["steps"]) == 2
    assert notify.refused("put_policy", "extra_urgent", {"steps": []}, admin_of("r1")).code == "FORBIDDEN"
    assert notify.refused("get_policy", "urgent", admin_of("r1")).code == "FORBIDDEN"
    assert notify.refused("get_policy", "secret", OPERATOR).code == "NOT_FOUND"
    bad = notify.refused("put_policy", "urgent", {"steps": [{"after": "soon", "from": "then", "audience": "all",
                                                             "channel": "fax"}]}, OPERATOR)
    assert bad.code == "VALIDATION_ERROR" and set(bad.fields["steps"][0]) == {"after", "from", "audience", "channel"}


def test_a_unit_admin_may_tighten_its_own_policy_but_never_loosen_it(notify):
    default = notify.call("get_policy", "urgent", OPERATOR)
    steps = [{k: v for k, v in step.items() if v is not None} for step in default["steps"]]
    tighter = [{**steps[0]}, {**steps[1]}, {**steps[2], "after": "10m"}, *steps[3:]]
    mine = notify.call("put_unit_policy", "r1", {"urgent": {"steps": tighter}}, admin_of("r1"))
    assert mine["policies"]["urgent"]["source"] == "unit" and mine["policies"]["normal"]["source"] == "config"
    looser = notify.refused("put_unit_policy", "r1", {"urgent": {"steps": steps[:2]}}, admin_of("r1"))
    assert looser.code == "POLICY_LOOSER" and looser.status == 422 and "urgent" in looser.fields
    assert notify.call("get_unit_policy", "r1", admin_of("r1"))["policies"]["urgent"]["steps"][2]["after"] == "10m"
    # Another unit's: not found; a clerk: forbidden; the operator reads any unit's.
    assert notify.refused("put_unit_policy", "r1", {"urgent": {"steps": tighter}}, admin_of("r2")).code == "NOT_FOUND"
    clerk = {"user_id": "c", "unit_code": "r1", "roles": ["clerk"]}
    assert notify.refused("put_unit_policy", "r1", {"urgent": {"steps": tighter}}, clerk).code == "FORBIDDEN"
    assert notify.call("get_unit_policy", "r1", OPERATOR)["policies"]["urgent"]["source"] == "unit"
    back = notify.call("put_unit_policy", "r1", {"urgent": None}, admin_of("r1"))
    assert back["policies"]["urgent"]["source"] == "config"


def test_a_unit_policy_the_operator_has_since_tightened_past_gives_way_to_the_default(notify):
    default = notify.call("get_policy", "urgent", OPERATOR)
    steps = [{k: v for k, v in step.items() if v is not None} for step in default["steps"]]
    notify.call("put_unit_policy", "r1", {"urgent": {"steps": [*steps, {**steps[2], "after": "20m"}]}},
                admin_of("r1"))
    notify.call("put_policy", "urgent", {"steps": [*steps, {**steps[2], "after": "5m"},
                                                   {**steps[2], "after": "6m"}]}, OPERATOR)
    assert notify.call("get_unit_policy", "r1", admin_of("r1"))["policies"]["urgent"]["source"] == "operator"


def test_the_sender_sees_every_recipients_notifications_a_recipient_only_its_own_masked(notify):
    sender = notify.unit("sender")
    notify.unit("r1")
    notify.unit("r2", sms=False)
    notify.call("put_policy", "extra_urgent", {"steps": [
        {"after": "0m", "from": "sent", "audience": "recipient_clerks", "channel": "sms"},
        {"after": "0m", "from": "sent", "audience": "sender_clerks", "channel": "sms"}]}, OPERATOR)
    document_id, _ = notify.send("sender", ["r1", "r2"])
    notify.tick()
    as_sender = notify.call("document_notifications", document_id,
                            {"user_id": sender["clerks"][0], "unit_code": "sender", "roles": ["clerk"]})["items"]
    assert {(n["unit_code"], n["role"], n["status"]) for n in as_sender} == {
        ("r1", "clerk", "queued"), ("r1", "sender_clerk", "queued"), ("r2", "clerk", "skipped"),
        ("r2", "sender_clerk", "queued")}
    assert all(n["to"] is None or (n["to"].startswith("+86 138****") and len(n["to"]) == 15) for n in as_sender)
    assert {n["reason"] for n in as_sender if n["unit_code"] == "r2" and n["role"] == "clerk"} == {"sms_not_enabled"}
    as_r1 = notify.call("document_notifications", document_id, {"user_id": "x", "unit_code": "r1", "roles": ["staff"]})
    assert [(n["unit_code"], n["role"]) for n in as_r1["items"]] == [("r1", "clerk")]
    stranger = {"user_id": "y", "unit_code": "r3", "roles": ["clerk", "admin"]}
    assert notify.refused("document_notifications", document_id, stranger).code == "NOT_FOUND"
    assert notify.refused("document_notifications", "no-such", OPERATOR).code == "NOT_FOUND"
    assert len(notify.call("document_notifications", document_id, OPERATOR)["items"]) == 4


def test_a_step_naming_an_unknown_template_is_refused(notify):
    step = {"after": "0m", "from": "sent", "audience": "recipient_clerks", "channel": "sms", "template": "nosuch"}
    refused = notify.refused("put_policy", "urgent", {"steps": [step]}, OPERATOR)
    assert refused.code == "VALIDATION_ERROR" and "template" in refused.fields["steps"][0]
    refused = notify.refused("put_unit_policy", "r1", {"urgent": {"steps": [step]}}, admin_of("r1"))
    assert refused.code == "VALIDATION_ERROR" and "urgent" in refused.fields


def test_a_short_link_names_its_document(notify):
    notify.unit("sender")
    notify.unit("r1")
    document_id, _ = notify.send("sender", ["r1"])
    notify.tick()
    [message] = notify.messages()[:1]
    code = message.body.rsplit("/l/", 1)[1]
    assert len(code) == 12 and notify.call("resolve_link", code) == {"document_id": document_id}
    assert notify.refused("resolve_link", "NOPE2345").code == "NOT_FOUND"
