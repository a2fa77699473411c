"""Units and people through the gateway: unit lifecycles reaching every read model, and the
authorisation matrix — every role of unit A against unit B's resources, for every endpoint
the OpenAPI document lists (real services, broker and PostgreSQL)."""
import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from conftest import (
    INITIAL_PASSWORD,
    Api,
    Databases,
    active_unit,
    device_key,
    login,
    new_account,
    operator_login,
    person,
    public_pem,
    wait_until,
    when_known,
)

ROLES = ("admin", "clerk", "leader", "staff", "custodian", "secrecy_officer")


def new_unit(operator, code, parent=None):
    return active_unit(operator, code, parent=parent)


def read_models_agree(dbs, code, status, name=None):
    rows = {s: dbs.rows(s, "SELECT status, name FROM unit_views WHERE code = :c", c=code)
            for s in ("identity", "seal", "exchange", "notify", "archive")}
    return all(r and r[0][0] == status and (name is None or r[0][1] == name) for r in rows.values())


def test_unit_lifecycles_reach_every_read_model(stack):
    operator, dbs = operator_login(stack), Databases(stack)
    tag = uuid.uuid4().hex[:6]
    a = f"a-{tag}"
    applied = operator.post("/api/v1/units", json={"code": a, "name": "甲局", "kind": "department"})
    assert applied.json()["status"] == "applied"
    wait_until(lambda: read_models_agree(dbs, a, "applied"), message="applied everywhere")
    operator.post(f"/api/v1/units/{a}/approve")
    renamed = operator.post(f"/api/v1/units/{a}/rename", json={"name": "甲局（新）"}).json()
    assert renamed["former_names"] == ["甲局"]
    wait_until(lambda: read_models_agree(dbs, a, "active", "甲局（新）"), message="approve + rename everywhere")

    kept, absorbed = new_unit(operator, f"m1-{tag}"), new_unit(operator, f"m2-{tag}")
    merged = operator.post("/api/v1/units/merge", json={"from_codes": [kept["code"], absorbed["code"]],
                                                        "into_code": kept["code"]})
    assert merged.status_code == 200, merged.text
    first, second = new_unit(operator, f"n1-{tag}"), new_unit(operator, f"n2-{tag}")
    fresh = f"n3-{tag}"
    new = {"code": fresh, "name": "新局", "kind": "department"}
    merged_new = operator.post("/api/v1/units/merge", json={"from_codes": [first["code"], second["code"]], "new": new})
    assert merged_new.status_code == 200 and merged_new.json()["new_unit_created"] is True, merged_new.text

    leaving = new_unit(operator, f"r-{tag}")
    revoked = operator.post(f"/api/v1/units/{leaving['code']}/revoke",
                            json={"reason": "机构改革", "documents": "transfer", "successor_code": a})
    assert revoked.status_code == 200 and revoked.json()["revocation"]["successor_code"] == a, revoked.text

    for code, status in ((kept["code"], "active"), (absorbed["code"], "revoked"), (first["code"], "revoked"),
                         (second["code"], "revoked"), (fresh, "active"), (leaving["code"], "revoked")):
        wait_until(lambda c=code, s=status: read_models_agree(dbs, c, s), message=f"{code} {status} everywhere")
    directory, cursor = [], None  # the whole directory: the session's stack holds other modules' units too
    while True:
        page = operator.get("/api/v1/units", params={"limit": 200, **({"cursor": cursor} if cursor else {})}).json()
        directory += [u["code"] for u in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert leaving["code"] not in directory and fresh in directory  # revoked units leave the directory

    for refused, code in (
        (operator.post(f"/api/v1/units/{leaving['code']}/rename", json={"name": "复活"}), "UNIT_REVOKED"),
        (operator.post("/api/v1/units/merge", json={"from_codes": [a], "into_code": a}), "MERGE_INTO_SELF"),
        (operator.post("/api/v1/units", json={"code": a, "name": "重复", "kind": "department"}), "UNIT_CODE_TAKEN"),
        (operator.put(f"/api/v1/units/{a}/contacts", json={"admin_user_id": "u1", "clerk_user_ids": ["u2"],
                                                          "leader_user_id": "u3", "sms_enabled": False}),
         "NOT_UNIT_MEMBERS"),  # u1–u3 are no users of the unit (identity says)
    ):
        assert 400 <= refused.status_code < 500 and refused.json()["error"] == code, refused.text


class Units:
    """Two active units with one account per role in A, and an admin and clerk in B."""

    def __init__(self, stack):
        self.operator = operator_login(stack)
        tag = uuid.uuid4().hex[:6]
        self.a, self.b = new_unit(self.operator, f"ua-{tag}")["code"], new_unit(self.operator, f"ub-{tag}")["code"]
        self.as_role = {role: self.person(stack, self.a, role) for role in ROLES}
        self.b_admin_id = self.person(stack, self.b, "admin", id_only=True)
        self.b_clerk_id = self.person(stack, self.b, "clerk", id_only=True)
        self.b_seal = self.seal(self.b, [self.b_clerk_id])
        self.b_client = self.operator.post(f"/api/v1/units/{self.b}/clients").json()["client_id"]
        self.b_document, self.b_print_request = self.document(stack, tag)
        # The ledger entry of B's document (B and C may read it; A may not).
        self.b_ledger_index = wait_until(lambda: [seq for seq in [Databases(stack).scalar(
            "archive", "SELECT seq FROM ledger_entries WHERE document_id = :d AND event_type = 'document_sent'",
            d=self.b_document)] if seq is not None], message="the archive to record B's document")[0]
        self.b_dead_letter = self.dead_letter(stack)

    def document(self, stack, tag):
        """A document unit B sent to a third unit C: unit A is neither its sender nor a recipient;
        and C's print request on it (for B's clerks to answer)."""
        self.c = c = new_unit(self.operator, f"uc-{tag}")["code"]
        clerk = self.person(stack, self.b, "clerk")
        metadata = {"doc_number": f"B〔2026〕{tag}号", "title": "B 的公文", "signer": "赵", "urgency": "normal",
                    "secrecy": "none", "main_recipients": [c]}
        sent = when_known(lambda: clerk.post("/api/v1/documents", data={"metadata": json.dumps(metadata)},
                                             files={"body": ("body.txt", b"body")}), message="the exchange to know C")
        assert sent.status_code == 201, sent.text
        c_clerk = self.person(stack, c, "clerk")
        asked = c_clerk.post(f"/api/v1/documents/{sent.json()['id']}/print-requests", json={"copies": 1,
                                                                                              "reason": "需要"})
        assert asked.status_code == 201, asked.text
        return sent.json()["id"], asked.json()["request_id"]

    @staticmethod
    def dead_letter(stack):
        """A real dead letter in the registry, so the replay row is decided by the rule, not a missing id."""
        with Databases(stack).engines["registry"].begin() as db:
            return db.exec_driver_sql(
                "INSERT INTO dead_letters (queue, event_type, body, headers, reason, dead_at, replay_count) "
                "VALUES ('matrix-nowhere', 'matrix', '{}', '{}', 'matrix', now(), 0) RETURNING id").scalar()

    def seal(self, unit, custodians):
        """The unit's active seal, applied for by the operator once the seal service knows the unit."""
        body = {"unit_code": unit, "custody": {"required_approvals": 1, "custodian_user_ids": custodians}}
        applied = when_known(lambda: self.operator.post("/api/v1/seals", json=body),
                             message="the seal service to know the unit")
        assert applied.status_code == 201, applied.text
        approved = self.operator.post(f"/api/v1/seals/{applied.json()['serial']}/approve")
        assert approved.status_code == 200 and approved.json()["status"] == "active", approved.text
        return approved.json()["serial"]

    def person(self, stack, unit, role, id_only=False):
        if id_only:  # an account that never signs in here
            return new_account(self.operator, {"username": f"{role}-{uuid.uuid4().hex[:6]}", "name": "张三",
                                               "unit_code": unit, "roles": [role], "mobile": "13800138000",
                                               "initial_password": INITIAL_PASSWORD,
                                               "device_public_key": public_pem(device_key())})["user_id"]
        return person(stack, self.operator, unit, role).api


@pytest.fixture(scope="module")
def units(stack):
    return Units(stack)


def b_resources(u: Units):
    """For each endpoint: unit B's resource as a unit A caller would try it — (path values, body),
    and 'shared' (B's directory entry is for every sender) or 'self' (acts on the caller only)."""
    b_user = {"user_id": u.b_clerk_id}
    seal = {"serial": u.b_seal}
    document = {"document_id": u.b_document}
    return {
        ("post", "/api/v1/units"): ({}, {"code": f"x-{uuid.uuid4().hex[:6]}", "name": "下属单位", "kind": "department",
                                         "parent_code": u.b}),
        ("get", "/api/v1/units"): "shared",
        ("get", "/api/v1/units/{code}"): "shared",
        ("post", "/api/v1/units/{code}/approve"): ({"code": u.b}, None),
        ("post", "/api/v1/units/{code}/rename"): ({"code": u.b}, {"name": "改名"}),
        ("post", "/api/v1/units/{code}/revoke"): ({"code": u.b}, {"reason": "撤销", "documents": "archive"}),
        ("post", "/api/v1/units/merge"): ({}, {"from_codes": [u.a, u.b], "into_code": u.a}),
        ("put", "/api/v1/units/{code}/contacts"): ({"code": u.b}, {
            "admin_user_id": u.b_admin_id, "clerk_user_ids": [u.b_clerk_id], "leader_user_id": u.b_admin_id,
            "sms_enabled": False}),
        ("post", "/api/v1/units/{code}/clients"): ({"code": u.b}, None),
        ("get", "/api/v1/units/{code}/clients"): ({"code": u.b}, None),
        ("delete", "/api/v1/units/{code}/clients/{client_id}"): ({"code": u.b, "client_id": u.b_client}, None),
        ("get", "/api/v1/users"): "self",  # lists the caller's own unit (test_listings_…)
        ("get", "/api/v1/proxies"): "self",
        ("post", "/api/v1/users"): ({}, {"username": f"x-{uuid.uuid4().hex[:6]}", "name": "李四", "unit_code": u.b,
                                         "roles": ["clerk"], "initial_password": "Gw-Initial-2026!",
                                         "device_public_key": public_pem(device_key())}),
        ("post", "/api/v1/users/{user_id}/approve"): (b_user, None),
        ("post", "/api/v1/users/{user_id}/disable"): (b_user, {"reason": "离职"}),
        ("post", "/api/v1/users/{user_id}/reset-password"): (b_user, {"initial_password": "Gw-Reset-2026!"}),
        ("post", "/api/v1/users/{user_id}/devices"): (b_user, {"public_key": public_pem(device_key())}),
        ("post", "/api/v1/proxies"): ({}, {"principal_user_id": u.b_admin_id, "proxy_user_id": u.b_clerk_id,
                                           "starts_at": "2026-01-01T00:00:00+08:00",
                                           "ends_at": "2030-01-01T00:00:00+08:00"}),
        ("get", "/api/v1/admin/dead-letters"): ({}, None),
        ("post", "/api/v1/admin/dead-letters/{service}/{letter_id}/replay"): (
            {"service": "registry", "letter_id": u.b_dead_letter}, None),
        ("post", "/api/v1/auth/act-for"): ({}, {"principal_user_id": u.b_admin_id}),
        ("post", "/api/v1/seals"): ({}, {"unit_code": u.b, "custody": {"required_approvals": 1,
                                                                       "custodian_user_ids": [u.b_clerk_id]}}),
        ("post", "/api/v1/seals/{serial}/approve"): (seal, None),
        ("get", "/api/v1/seals/{serial}"): (seal, None),
        ("get", "/api/v1/seals/{serial}/certificate.pem"): "public",
        ("get", "/api/v1/seals/{serial}/image.png"): "public",
        ("put", "/api/v1/seals/{serial}/image.png"): (seal, None),
        ("post", "/api/v1/seals/{serial}/revoke"): (seal, {"reason": "丢失"}),
        ("post", "/api/v1/seals/{serial}/destruction-approvals"): (seal, None),
        ("post", "/api/v1/seals/{serial}/use-approvals"): (seal, {"manifest_sha256": "a" * 64}),
        ("post", "/api/v1/seals/sign"): "self",  # always the caller's own unit seal
        ("post", "/api/v1/seals/verify"): "self",  # verification is for everyone, of anything
        ("post", "/api/v1/seals/verify-for-print"): "self",
        ("post", "/api/v1/documents"): "self",  # sent from the caller's own unit
        ("get", "/api/v1/inbox"): "self",
        ("get", "/api/v1/outbox"): "self",
        ("get", "/api/v1/supervision/presence"): "own",  # others than the operator see their own unit
        ("get", "/api/v1/documents/{document_id}"): (document, None),
        ("get", "/api/v1/documents/{document_id}/manifest"): (document, None),
        ("get", "/api/v1/documents/{document_id}/signature.p7s"): (document, None),
        ("get", "/api/v1/documents/{document_id}/body"): (document, None),
        ("get", "/api/v1/documents/{document_id}/attachments/{n}"): ({**document, "n": 1}, None),
        ("get", "/api/v1/documents/{document_id}/receipts"): (document, None),
        ("post", "/api/v1/documents/{document_id}/sign"): (document, None),
        ("post", "/api/v1/documents/{document_id}/register"): (document, {"registration_number": "R1"}),
        ("post", "/api/v1/documents/{document_id}/return"): (document, {"reason": "不对"}),
        ("post", "/api/v1/documents/{document_id}/print"): (document, None),
        ("post", "/api/v1/documents/{document_id}/print-requests"): (document, {"copies": 1, "reason": "需要打印"}),
        ("post", "/api/v1/documents/{document_id}/print-requests/{request_id}/grant"): (
            {**document, "request_id": u.b_print_request}, None),
        ("post", "/api/v1/documents/{document_id}/print-requests/{request_id}/refuse"): (
            {**document, "request_id": u.b_print_request}, None),
        ("post", "/api/v1/documents/{document_id}/resend-requests"): (document, {"reason": "重发"}),
        ("post", "/api/v1/documents/{document_id}/resend"): (document, {"unit_codes": [u.a]}),
        ("post", "/api/v1/documents/{document_id}/recall"): (document, None),
        ("post", "/api/v1/documents/{document_id}/seal"): (document, {"seal_use_approval_ids": []}),
        ("post", "/api/v1/documents/{document_id}/paper-delivery"): (document, {"unit_code": u.a, "note": "纸质"}),
        ("put", "/api/v1/admin/calendar/{year}"): ({"year": 2031}, {"source": "通知", "days": [
            {"date": "2031-01-01", "working": False}]}),
        ("get", "/api/v1/admin/calendar"): ({}, None),
        ("get", "/api/v1/documents/{document_id}/notifications"): (document, None),
        ("get", "/api/v1/units/{code}/notify-policy"): ({"code": u.b}, None),
        ("put", "/api/v1/units/{code}/notify-policy"): ({"code": u.b}, {"urgent": None}),
        ("get", "/api/v1/notify/policies/{urgency}"): ({"urgency": "urgent"}, None),  # the operator's only
        ("put", "/api/v1/notify/policies/{urgency}"): ({"urgency": "urgent"}, {"steps": []}),
        ("get", "/api/v1/notify/templates/{name}"): ({"name": "reminder"}, None),
        ("put", "/api/v1/notify/templates/{name}"): ({"name": "reminder"}, {"text": "{link}", "approved": True}),
        ("put", "/api/v1/users/{user_id}/mobile"): (b_user, {"mobile": "13800138001"}),
        ("get", "/api/v1/units/{code}/sms"): "self",  # another unit's bill: 404 (tests/test_sms_delivery.py)
        ("get", "/api/v1/documents/{document_id}/archive"): (document, None),
        ("post", "/api/v1/documents/{document_id}/disposal-approvals"): (document, None),
        ("get", "/api/v1/ledger/entries/{index}"): ({"index": u.b_ledger_index}, None),
        ("get", "/api/v1/ledger/entries"): ({}, None),  # the operator's only
        ("get", "/api/v1/ledger/tree-head"): "self",  # the ledger's head, keys and proofs are hashes, for all
        ("get", "/api/v1/ledger/keys"): "self",
        ("get", "/api/v1/ledger/proof"): "self",
        ("get", "/api/v1/ledger/consistency"): "self",
        ("get", "/api/v1/search"): "self",  # finds only the caller's unit's documents (tests/test_ledger.py)
        ("get", "/api/v1/reports/supervision"): "self",  # the caller's own unit (tests/test_reports.py)
        ("post", "/api/v1/auth/password"): "self",
        ("post", "/api/v1/auth/logout"): "self",
        ("get", "/api/v1/me"): "self",
    }


def test_no_role_of_unit_a_can_act_on_unit_b(stack, units):
    spec = operator_login(stack).get("/api/v1/openapi.json").json()
    protected = {(method, path) for path, ops in spec["paths"].items() for method, op in ops.items()
                 if op.get("security")}
    rules = b_resources(units)
    assert protected == set(rules), f"endpoints without an authorisation rule: {protected - set(rules)}"
    for (method, path), rule in sorted(rules.items()):
        for role, api in units.as_role.items():
            if rule == "self":
                continue
            if rule == "own":  # asked for another unit, a non-operator still sees only its own
                reply = api.get(path, params={"date": "2026-12-01", "unit": units.b})
                assert reply.status_code == 200, (role, path, reply.text)
                assert all(u["unit_code"] == units.a for u in reply.json()["units"]), (role, path, reply.text)
                continue
            if rule == "public":  # B's published material (a seal certificate) is for every verifier
                reply = api.get(path.replace("{serial}", units.b_seal))
                assert reply.status_code == 200, (role, path, reply.text)
                continue
            if rule == "shared":
                url = path.replace("{code}", units.b)
                reply = api.get(url)
                assert reply.status_code == 200, (role, path, reply.text)
                shown = reply.json()["items"] if "items" in reply.json() else [reply.json()]
                assert all("mobiles" not in u["contacts"] for u in shown), (role, path)  # identity's alone
                continue
            values, body = rule
            url = re.sub(r"{([a-z_]+)}", lambda m, v=values: str(v[m.group(1)]), path)
            reply = api.http.request(method.upper(), api.base_url + url, json=body, timeout=30)
            assert reply.status_code in (403, 404), (role, method, path, reply.status_code, reply.text)
            assert reply.json()["error"] in ("FORBIDDEN", "NOT_FOUND", "PROXY_NOT_ALLOWED") or \
                reply.json()["error"].endswith("NOT_FOUND")
    # and nothing of B's changed
    b = operator_login(stack).get(f"/api/v1/units/{units.b}").json()
    assert (b["status"], b["name"]) == ("active", f"单位 {units.b}")
    b_seal = operator_login(stack).get(f"/api/v1/seals/{units.b_seal}").json()
    assert (b_seal["status"], b_seal["image_source"]) == ("active", "rendered")
    dbs = Databases(stack)
    assert dbs.rows("exchange", "SELECT state, print_copies_used FROM receipts WHERE document_id = :d",
                    d=units.b_document) == [("delivered", 0)]
    assert dbs.rows("exchange", "SELECT state FROM print_requests WHERE id = :r", r=units.b_print_request) == [
        ("pending",)]
    assert dbs.scalar("registry", "SELECT replay_count FROM dead_letters WHERE id = :i", i=units.b_dead_letter) == 0


def test_a_units_admin_manages_only_its_own_people(stack, units):
    admin = units.as_role["admin"]
    key = device_key()
    body = {"username": f"own-{uuid.uuid4().hex[:6]}", "name": "王五", "unit_code": units.a, "roles": ["clerk"],
            "mobile": "13900139000", "initial_password": "Gw-Initial-2026!", "device_public_key": public_pem(key)}
    requested = admin.post("/api/v1/users", json=body)
    assert requested.status_code == 201 and requested.json()["status"] == "pending", requested.text
    assert login(Api(stack.gateway_url), body["username"], body["initial_password"], key).json()["error"] == \
        "ACCOUNT_DISABLED"  # awaits the operator's approval
    assert admin.post(f"/api/v1/users/{requested.json()['user_id']}/approve").status_code == 403
    approved = units.operator.post(f"/api/v1/users/{requested.json()['user_id']}/approve")
    assert approved.status_code == 200 and approved.json()["status"] == "active"


def test_a_proxy_acts_for_the_principal_inside_the_window_and_records_name_both(stack, units):
    """代理人 (000 §16, 003 §17): the admin names the clerk for a window; inside it the clerk acts
    with the admin's authority, and identity's and the registry's audit records name both."""
    admin, clerk, leader, staff = (units.as_role[r] for r in ("admin", "clerk", "leader", "staff"))
    ids = {role: units.as_role[role].get("/api/v1/me").json()["user_id"] for role in ("admin", "clerk", "leader",
                                                                                       "staff")}
    now = datetime.now(UTC)

    def name_proxy(principal, proxy, starts, ends):
        reply = admin.post("/api/v1/proxies", json={"principal_user_id": ids[principal], "proxy_user_id": ids[proxy],
                                                    "starts_at": starts.isoformat(), "ends_at": ends.isoformat()})
        assert reply.status_code == 201, reply.text

    def act_for(api, principal):
        return api.post("/api/v1/auth/act-for", json={"principal_user_id": ids[principal]})

    # Outside a window: none named, or one that has not begun.
    assert act_for(clerk, "admin").json()["error"] == "PROXY_NOT_ALLOWED"
    name_proxy("leader", "staff", now + timedelta(days=1), now + timedelta(days=2))
    refused = act_for(staff, "leader")
    assert (refused.status_code, refused.json()["error"]) == (403, "PROXY_NOT_ALLOWED")

    # Inside: the token carries the admin's authority and never outlives the window.
    name_proxy("admin", "clerk", now - timedelta(minutes=1), now + timedelta(minutes=10))
    issued = act_for(clerk, "admin")
    assert issued.status_code == 200, issued.text
    assert issued.json()["proxy_user_id"] == ids["clerk"] and 0 < issued.json()["expires_in"] <= 600
    as_proxy = Api(stack.gateway_url)
    as_proxy.http.headers["Authorization"] = f"Bearer {issued.json()['access_token']}"
    me = as_proxy.get("/api/v1/me").json()
    assert (me["user_id"], me["roles"], me["proxy"]["user_id"]) == (ids["admin"], ["admin"], ids["clerk"])

    key = device_key()
    body = {"username": f"via-{uuid.uuid4().hex[:6]}", "name": "赵六", "unit_code": units.a, "roles": ["staff"],
            "mobile": "13700137000", "initial_password": "Gw-Initial-2026!", "device_public_key": public_pem(key)}
    assert clerk.post("/api/v1/users", json=body).status_code == 403  # the clerk alone may not
    requested = admin.post("/api/v1/users", json=body)  # accounts are requested in person
    assert requested.status_code == 201, requested.text
    disabled = as_proxy.post(f"/api/v1/users/{requested.json()['user_id']}/disable", json={"reason": "不需要了"})
    assert disabled.status_code == 200, disabled.text
    contacts = {"admin_user_id": ids["admin"], "clerk_user_ids": [ids["clerk"]], "leader_user_id": ids["leader"],
                "sms_enabled": False}
    assert as_proxy.put(f"/api/v1/units/{units.a}/contacts", json=contacts).status_code == 200

    dbs = Databases(stack)
    assert dbs.rows("identity", "SELECT actor, proxy_user_id FROM audit_records WHERE action = 'user_disabled' "
                    "AND subject_id = :u", u=requested.json()["user_id"]) == [(ids["admin"], ids["clerk"])]
    assert dbs.rows("registry", "SELECT actor, proxy_user_id FROM audit_records WHERE action = 'contacts_changed' "
                    "AND subject_id = :c", c=units.a) == [(ids["admin"], ids["clerk"])]

    # Credentials, accounts and delegation stay personal; no chains of proxies.
    other = {**body, "username": f"via-{uuid.uuid4().hex[:6]}", "device_public_key": public_pem(device_key())}
    for path, payload in (("/api/v1/auth/password", {"old_password": "x", "new_password": "Gw-Other-2026?"}),
                          ("/api/v1/users", other),
                          (f"/api/v1/units/{units.a}/clients", None),
                          (f"/api/v1/users/{ids['staff']}/reset-password", {"initial_password": "Gw-Reset-2026!"}),
                          (f"/api/v1/users/{ids['staff']}/devices", {"public_key": public_pem(device_key())}),
                          ("/api/v1/proxies", {"principal_user_id": ids["admin"], "proxy_user_id": ids["staff"],
                                               "starts_at": now.isoformat(),
                                               "ends_at": (now + timedelta(hours=1)).isoformat()}),
                          ("/api/v1/auth/act-for", {"principal_user_id": ids["leader"]})):
        refused = as_proxy.post(path, json=payload)
        assert (refused.status_code, refused.json()["error"]) == (403, "PROXY_NOT_ALLOWED"), (path, refused.text)
    client = admin.post(f"/api/v1/units/{units.a}/clients")
    assert client.status_code == 201, client.text
    refused = as_proxy.delete(f"/api/v1/units/{units.a}/clients/{client.json()['client_id']}")
    assert (refused.status_code, refused.json()["error"]) == (403, "PROXY_NOT_ALLOWED")
    listed = as_proxy.get(f"/api/v1/units/{units.a}/clients").json()["items"]  # reading is no credential
    assert [(c["client_id"], c["status"]) for c in listed] == [(client.json()["client_id"], "active")]

    assert as_proxy.post("/api/v1/auth/logout").status_code == 204
    assert as_proxy.get("/api/v1/me").status_code == 401
    assert clerk.get("/api/v1/me").json()["user_id"] == ids["clerk"]  # the proxy's own session goes on


def test_a_revoked_client_gets_no_token_and_its_tokens_are_refused(stack, units):
    """Issue 9 item 1: a unit's admin lists the unit's clients (never a secret) and revokes one;
    its secret issues no more tokens and the token it holds is refused by the gateway."""
    admin, anonymous = units.as_role["admin"], Api(stack.gateway_url)
    made = admin.post(f"/api/v1/units/{units.a}/clients").json()
    credentials = {"client_id": made["client_id"], "client_secret": made["client_secret"]}
    issued = anonymous.post("/api/v1/auth/token", json=credentials)
    assert issued.status_code == 200, issued.text
    system = Api(stack.gateway_url)
    system.http.headers["Authorization"] = f"Bearer {issued.json()['access_token']}"
    assert system.get("/api/v1/me").status_code == 200

    listing = admin.get(f"/api/v1/units/{units.a}/clients")
    assert listing.status_code == 200 and made["client_secret"] not in listing.text and "argon2" not in listing.text
    assert made["client_id"] in [c["client_id"] for c in listing.json()["items"]]
    assert admin.delete(f"/api/v1/units/{units.b}/clients/{units.b_client}").status_code == 404  # B's: not found
    revoked = admin.delete(f"/api/v1/units/{units.a}/clients/{made['client_id']}")
    assert revoked.status_code == 204, revoked.text

    refused = anonymous.post("/api/v1/auth/token", json=credentials)
    assert (refused.status_code, refused.json()["error"]) == (401, "ACCOUNT_DISABLED")
    wait_until(lambda: system.get("/api/v1/me").status_code == 401, timeout=10, message="the token to be refused")
    shown = admin.get(f"/api/v1/units/{units.a}/clients", params={"status": "revoked"}).json()["items"]
    assert made["client_id"] in [c["client_id"] for c in shown]
    assert Databases(stack).rows("identity", "SELECT action FROM audit_records WHERE subject_id = :c "
                                 "AND action = 'client_revoked'", c=made["client_id"]) == [("client_revoked",)]


def test_listings_show_a_unit_admin_only_its_own_unit(stack, units):
    admin, operator = units.as_role["admin"], units.operator
    mine = admin.get("/api/v1/users", params={"limit": 200})
    assert mine.status_code == 200, mine.text
    assert {u["unit_code"] for u in mine.json()["items"]} == {units.a}
    assert units.b_clerk_id not in mine.text
    assert admin.get("/api/v1/users", params={"unit": units.b}).json() == {"items": [], "next_cursor": None}
    theirs = operator.get("/api/v1/users", params={"unit": units.b, "limit": 200}).json()["items"]
    assert units.b_clerk_id in [u["user_id"] for u in theirs]
    assert admin.get(f"/api/v1/units/{units.b}/clients").status_code == 404
    assert [c["client_id"] for c in operator.get(f"/api/v1/units/{units.b}/clients").json()["items"]] == \
        [units.b_client]
    assert admin.get("/api/v1/proxies").status_code == 200
    assert all(p["unit_code"] == units.a for p in admin.get("/api/v1/proxies").json()["items"])
    assert admin.get("/api/v1/proxies", params={"unit": units.b}).json()["items"] == []
    assert units.as_role["clerk"].get("/api/v1/users").status_code == 403
    bad = admin.get("/api/v1/users", params={"limit": "many"})
    assert (bad.status_code, bad.json()["error"]) == (400, "VALIDATION_ERROR")
