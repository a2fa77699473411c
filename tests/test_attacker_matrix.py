"""Black-box authorisation through the gateway, as an attacker would try it: every operation of
the served OpenAPI document, called by five identities with valid bodies and real ids, answers
what ONE table says (real services, broker and PostgreSQL).

The identities: ``proxy`` — unit A's leader acting for A's admin inside the window
(``/auth/act-for``); ``expired_proxy`` — the same proxy's token from a window that has ended;
``staff`` — a staff member of A; ``other_system`` — unit B's own office system (client
credentials); ``anonymous`` — no token. The resources are unit A's (its seal, its users, a
document A sent to unit C and one C sent to A, a print request, a dead letter), so for the
first four it is the rule that decides, not a missing id.
"""
import hashlib
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from conftest import (
    CHANGED_PASSWORD,
    INITIAL_PASSWORD,
    Api,
    Databases,
    active_unit,
    challenge,
    device_key,
    new_account,
    operator_login,
    person,
    public_pem,
    signed,
    wait_until,
    when_known,
)

OK = "ok"  # let through by the rule: 2xx, or 409/422 when the resource's state is what refuses
IDENTITIES = ("anonymous", "expired_proxy", "staff", "other_system", "proxy")


@dataclass
class Row:
    """What ``proxy``, ``staff`` and ``other_system`` may do (``expired_proxy`` and ``anonymous``:
    401, or ``OK`` on a public route), and the valid request an attacker would send."""
    proxy: object
    staff: object
    other_system: object
    public: bool = False
    body: Callable | None = None  # world → JSON body
    files: Callable | None = None  # world → multipart parts (requests' ``files``)
    data: Callable | None = None  # world → raw body bytes
    query: Callable | None = None  # world → query parameters
    doc: str = "out"  # {document_id}: "out" (A sent it to C) or "in" (C sent it to A)
    fresh: bool = False  # ends the caller's session: called with a session of its own
    check: Callable | None = None  # (world, identity, reply) → bool, for an answer that must be filtered
    public_answer: object = OK  # everyone's answer on a public route (403 where it wants Twilio's signature)

    def expected(self, identity):
        if self.public:
            return self.public_answer
        return getattr(self, identity, 401)


PUBLIC = dict(public=True)


def metadata(w, to):
    return {"doc_number": f"甲〔2026〕{uuid.uuid4().hex[:6]}号", "title": "通知", "signer": "赵", "urgency": "normal",
            "secrecy": "none", "main_recipients": [to]}


def new_user_body(w):
    return {"username": f"m-{uuid.uuid4().hex[:6]}", "name": "李四", "unit_code": w.a, "roles": ["clerk"],
            "mobile": "13800138000", "initial_password": INITIAL_PASSWORD,
            "device_public_key": public_pem(device_key())}


def own_unit_only(w, identity, reply):
    """Presence: anyone but the operator sees their own unit, whatever ``unit=`` asks for."""
    return all(u["unit_code"] == w.unit_of[identity] for u in reply.json()["units"])


def own_unit_items(w, identity, reply):
    """Listings of people: a unit admin's (or its proxy's) hold only the unit's own, whatever ``unit=`` asks."""
    return all(item["unit_code"] == w.unit_of[identity] for item in reply.json()["items"])


ANOTHER_UNIT = dict(query=lambda w: {"unit": w.c})
TWILIO_CALLBACK = dict(query=lambda w: {"message_id": str(uuid.uuid4())}, data=lambda w: {
    "MessageSid": "SM" + "0" * 32, "MessageStatus": "delivered", "CallSid": "CA" + "0" * 32, "CallStatus": "completed"})

# A unit policy as tight as the shipped default for urgent documents (services/notify/config.yaml)
AS_TIGHT = {"steps": [{"after": after, "from": start, "audience": audience, "channel": channel}
                      for after, start, audience, channel in (
                          ("0m", "sent", "recipient_clerks", "sms"), ("0m", "sent", "recipient_leader", "sms"),
                          ("30m", "sent", "recipient_clerks", "sms"), ("0m", "due", "recipient_leader", "voice"),
                          ("0m", "due", "sender_clerks", "sms"))]}


# One row per operation: (method, OpenAPI path) → Row(proxy, staff, other_system, …). A new endpoint
# needs its row here (the coverage test fails without it). Rows that can spoil the world for later
# rows (revoking A's seal, ending a session) come last.
TABLE = {
    ("get", "/api/v1/health"): Row(OK, OK, OK, **PUBLIC),
    ("get", "/api/v1/health/gateway"): Row(OK, OK, OK, **PUBLIC),
    ("get", "/api/v1/openapi.json"): Row(OK, OK, OK, **PUBLIC),
    ("get", "/api/v1/docs"): Row(OK, OK, OK, **PUBLIC),
    ("post", "/api/v1/auth/challenge"): Row(OK, OK, OK, **PUBLIC, body=lambda w: {"username": w.staff_username}),
    ("post", "/api/v1/auth/login"): Row(OK, OK, OK, **PUBLIC, body=lambda w: w.login_body()),
    ("post", "/api/v1/auth/token"): Row(OK, OK, OK, **PUBLIC, body=lambda w: w.b_credentials),
    ("get", "/api/v1/auth/keys"): Row(OK, OK, OK, **PUBLIC),
    ("get", "/api/v1/seals/ca.pem"): Row(OK, OK, OK, **PUBLIC),
    ("get", "/api/v1/me"): Row(OK, OK, OK),
    ("post", "/api/v1/auth/act-for"): Row(403, 403, 403, body=lambda w: {"principal_user_id": w.a_admin_id}),
    # units
    ("get", "/api/v1/units"): Row(OK, OK, OK),
    ("get", "/api/v1/units/{code}"): Row(OK, OK, OK),
    ("post", "/api/v1/units"): Row(OK, 403, 403, body=lambda w: {
        "code": f"x-{uuid.uuid4().hex[:6]}", "name": "下属单位", "kind": "department", "parent_code": w.a}),
    ("post", "/api/v1/units/{code}/approve"): Row(403, 403, 403),
    ("post", "/api/v1/units/{code}/rename"): Row(403, 403, 403, body=lambda w: {"name": "改名"}),
    ("post", "/api/v1/units/{code}/revoke"): Row(403, 403, 403, body=lambda w: {"reason": "撤销",
                                                                               "documents": "archive"}),
    ("post", "/api/v1/units/merge"): Row(403, 403, 403, body=lambda w: {"from_codes": [w.a, w.b], "into_code": w.a}),
    ("put", "/api/v1/units/{code}/contacts"): Row(OK, 403, 403, body=lambda w: {
        "admin_user_id": w.a_admin_id, "clerk_user_ids": [w.a_clerk_id], "leader_user_id": w.a_leader_id,
        "sms_enabled": False}),
    # Credentials and accounts (clients, users, devices, passwords, proxies, seal custodians) are made in
    # person: the proxy's 403 is PROXY_NOT_ALLOWED from the owning service (issue 9 item 1).
    ("post", "/api/v1/units/{code}/clients"): Row(403, 403, 403),
    ("delete", "/api/v1/units/{code}/clients/{client_id}"): Row(403, 403, 403),
    ("get", "/api/v1/units/{code}/clients"): Row(OK, 403, 403),  # reading is no credential: never a secret
    ("get", "/api/v1/users"): Row(OK, 403, 403, check=own_unit_items, **ANOTHER_UNIT),
    ("get", "/api/v1/proxies"): Row(OK, 403, 403, check=own_unit_items, **ANOTHER_UNIT),
    ("post", "/api/v1/users"): Row(403, 403, 403, body=new_user_body),
    ("post", "/api/v1/users/{user_id}/approve"): Row(403, 403, 403),
    ("post", "/api/v1/users/{user_id}/reset-password"): Row(403, 403, 403, body=lambda w: {
        "initial_password": "Gw-Reset-2026!"}),
    ("post", "/api/v1/users/{user_id}/devices"): Row(403, 403, 403, body=lambda w: {
        "public_key": public_pem(device_key())}),
    ("post", "/api/v1/proxies"): Row(403, OK, 403, body=lambda w: {
        "principal_user_id": w.staff_id, "proxy_user_id": w.a_clerk_id, "starts_at": w.now.isoformat(),
        "ends_at": (w.now + timedelta(hours=1)).isoformat()}),
    ("post", "/api/v1/seals"): Row(403, 403, 403, body=lambda w: {
        "unit_code": w.a, "custody": {"required_approvals": 1, "custodian_user_ids": [w.a_clerk_id]}}),
    # seals
    ("get", "/api/v1/seals/{serial}"): Row(OK, OK, 404),
    ("get", "/api/v1/seals/{serial}/certificate.pem"): Row(OK, OK, OK),
    ("get", "/api/v1/seals/{serial}/image.png"): Row(OK, OK, OK),
    ("post", "/api/v1/seals/{serial}/approve"): Row(403, 403, 403),
    ("put", "/api/v1/seals/{serial}/image.png"): Row(OK, 403, 403, data=lambda w: w.png),
    ("post", "/api/v1/seals/{serial}/use-approvals"): Row(403, 403, 404, body=lambda w: {
        "manifest_sha256": w.manifest_sha256}),
    ("post", "/api/v1/seals/sign"): Row(403, 403, 403, files=lambda w: {"manifest": ("manifest.json", w.manifest)}),
    ("post", "/api/v1/seals/verify"): Row(OK, OK, OK, files=lambda w: w.verification_parts()),
    ("post", "/api/v1/seals/verify-for-print"): Row(OK, OK, OK, files=lambda w: w.verification_parts()),
    # documents: "out" was sent by A to C, "in" by C to A
    ("post", "/api/v1/documents"): Row(403, 403, 403, files=lambda w: {
        "metadata": (None, json.dumps(metadata(w, w.c))), "body": ("body.txt", b"body")}),
    ("get", "/api/v1/documents/{document_id}"): Row(OK, OK, 404),
    ("get", "/api/v1/documents/{document_id}/manifest"): Row(OK, OK, 404),
    ("get", "/api/v1/documents/{document_id}/signature.p7s"): Row(OK, OK, 404),
    ("get", "/api/v1/documents/{document_id}/body"): Row(OK, OK, 404),
    ("get", "/api/v1/documents/{document_id}/attachments/{n}"): Row(OK, OK, 404),
    ("get", "/api/v1/documents/{document_id}/receipts"): Row(OK, OK, 404),
    ("post", "/api/v1/documents/{document_id}/seal"): Row(403, 403, 403, body=lambda w: {
        "seal_use_approval_ids": [str(uuid.uuid4())]}),
    ("post", "/api/v1/documents/{document_id}/resend"): Row(403, 403, 403, body=lambda w: {"unit_codes": [w.c]}),
    ("post", "/api/v1/documents/{document_id}/recall"): Row(403, 403, 403),
    ("post", "/api/v1/documents/{document_id}/paper-delivery"): Row(403, 403, 403, body=lambda w: {
        "unit_code": w.c, "note": "纸质送达"}),
    ("post", "/api/v1/documents/{document_id}/print-requests/{request_id}/grant"): Row(403, 403, 403),
    ("post", "/api/v1/documents/{document_id}/print-requests/{request_id}/refuse"): Row(403, 403, 403),
    ("post", "/api/v1/documents/{document_id}/sign"): Row(403, 403, 404, doc="in"),
    ("post", "/api/v1/documents/{document_id}/register"): Row(403, 403, 404, doc="in", body=lambda w: {
        "registration_number": "收1"}),
    ("post", "/api/v1/documents/{document_id}/return"): Row(403, 403, 404, doc="in", body=lambda w: {
        "reason": "不对"}),
    ("post", "/api/v1/documents/{document_id}/print"): Row(403, 403, 404, doc="in"),
    ("post", "/api/v1/documents/{document_id}/print-requests"): Row(403, 403, 404, doc="in", body=lambda w: {
        "copies": 1, "reason": "需要打印"}),
    ("post", "/api/v1/documents/{document_id}/resend-requests"): Row(403, 403, 404, doc="in", body=lambda w: {
        "reason": "请重发"}),
    # notifications: who was told of "out" (A sent it), policies (the operator's; A's admin tightens A's), templates
    ("get", "/api/v1/documents/{document_id}/notifications"): Row(OK, OK, 404),
    ("get", "/api/v1/notify/policies/{urgency}"): Row(403, 403, 403),
    ("put", "/api/v1/notify/policies/{urgency}"): Row(403, 403, 403, body=lambda w: {"steps": []}),
    ("get", "/api/v1/units/{code}/notify-policy"): Row(OK, 403, 403),
    ("put", "/api/v1/units/{code}/notify-policy"): Row(OK, 403, 403, body=lambda w: {"urgent": AS_TIGHT}),
    ("get", "/api/v1/notify/templates/{name}"): Row(403, 403, 403),
    ("put", "/api/v1/notify/templates/{name}"): Row(403, 403, 403, body=lambda w: {
        "text": "{sender}{doc_number}《{title}》{due}{link}", "approved": True}),
    ("put", "/api/v1/users/{user_id}/mobile"): Row(OK, 403, 403, body=lambda w: {"mobile": "13800138001"}),
    ("get", "/api/v1/inbox"): Row(OK, OK, OK),
    ("get", "/api/v1/outbox"): Row(OK, OK, OK),
    ("get", "/api/v1/documents/{document_id}/archive"): Row(OK, OK, 404),  # A's document to C: not B's
    ("post", "/api/v1/documents/{document_id}/disposal-approvals"): Row(404, 403, 403),  # no package yet: open
    ("get", "/api/v1/search"): Row(OK, OK, OK, query=lambda w: {"q": "通知"}),
    ("get", "/api/v1/ledger/tree-head"): Row(OK, OK, OK),
    ("get", "/api/v1/ledger/keys"): Row(OK, OK, OK),
    ("get", "/api/v1/ledger/entries"): Row(403, 403, 403),
    ("get", "/api/v1/ledger/entries/{index}"): Row(OK, OK, 404),  # A's document to C: not B's to read
    ("get", "/api/v1/ledger/proof"): Row(OK, OK, OK, query=lambda w: {"index": 0, "tree_size": 1}),
    ("get", "/api/v1/ledger/consistency"): Row(OK, OK, OK, query=lambda w: {"first": 1, "second": 1}),
    ("get", "/api/v1/reports/supervision"): Row(OK, 403, 403, check=own_unit_only, query=lambda w: {
        "from": w.now.date().isoformat(), "to": w.now.date().isoformat()}),
    ("get", "/api/v1/supervision/presence"): Row(OK, OK, OK, check=own_unit_only, query=lambda w: {
        "date": "2026-12-01", "unit": w.c}),
    # notifications: Twilio's callbacks want its signature, which no caller has; a unit's SMS bill
    ("post", "/api/v1/twilio/messages/status"): Row(OK, OK, OK, **PUBLIC, public_answer=403, **TWILIO_CALLBACK),
    ("post", "/api/v1/twilio/calls/status"): Row(OK, OK, OK, **PUBLIC, public_answer=403, **TWILIO_CALLBACK),
    ("get", "/api/v1/units/{code}/sms"): Row(OK, 403, 403, query=lambda w: {"month": "2026-12"}),
    # an SMS's short link to "out": public (a phone's browser), a redirect that grants nothing by itself
    ("get", "/l/{link_code}"): Row(OK, OK, OK, **PUBLIC, public_answer=303),
    # operations
    ("get", "/api/v1/admin/calendar"): Row(403, 403, 403),
    ("put", "/api/v1/admin/calendar/{year}"): Row(403, 403, 403, body=lambda w: {
        "source": "国务院办公厅通知", "days": [{"date": "2031-01-01", "working": False}]}),
    ("get", "/api/v1/admin/dead-letters"): Row(403, 403, 403),
    ("post", "/api/v1/admin/dead-letters/{service}/{letter_id}/replay"): Row(403, 403, 403),
    # last: these change A's seal and people, or end the caller's session
    ("post", "/api/v1/seals/{serial}/destruction-approvals"): Row(403, 403, 403),  # custody is personal
    ("post", "/api/v1/seals/{serial}/revoke"): Row(OK, 403, 403, body=lambda w: {"reason": "印章丢失"}),
    ("post", "/api/v1/users/{user_id}/disable"): Row(OK, 403, 403, body=lambda w: {"reason": "离职"}),
    ("post", "/api/v1/auth/logout"): Row(OK, OK, OK, fresh=True),
    # A system has no password: refused (403), not taken for a wrong password.
    ("post", "/api/v1/auth/password"): Row(403, OK, 403, fresh=True, body=lambda w: {
        "old_password": w.staff_password, "new_password": w.next_staff_password()}),
}


def bearer(stack, token):
    api = Api(stack.gateway_url)
    api.http.headers["Authorization"] = f"Bearer {token}"
    return api


class World:
    """Units A (the attackers' own unit), B (another unit, with its office system) and C (a third
    party exchanging documents with A), and a real resource for every path of the API."""

    def __init__(self, stack):
        self.stack, self.operator = stack, operator_login(stack)
        self.now = datetime.now(UTC)
        tag = uuid.uuid4().hex[:6]
        self.a, self.b, self.c = (active_unit(self.operator, f"{x}-{tag}")["code"] for x in ("ma", "mb", "mc"))
        a_admin, a_clerk, a_leader = (person(stack, self.operator, self.a, r) for r in ("admin", "clerk", "leader"))
        staff = person(stack, self.operator, self.a, "staff")
        c_clerk = person(stack, self.operator, self.c, "clerk")
        self.a_admin_id, self.a_clerk_id, self.a_leader_id = a_admin.user_id, a_clerk.user_id, a_leader.user_id
        self.clerk = a_clerk.api
        self.staff_id, self.staff_username, self.staff_key = staff.user_id, staff.username, staff.key
        self.staff_password, self._passwords = CHANGED_PASSWORD, 0
        self.user_id = new_account(self.operator, {**new_user_body(self), "roles": ["staff"]})["user_id"]

        # The expired proxy first: a window that ends in seconds (the stack's clock cannot be moved).
        self.name_proxy(a_admin.api, timedelta(seconds=3))
        expired = a_leader.api.post("/api/v1/auth/act-for", json={"principal_user_id": self.a_admin_id})
        assert expired.status_code == 200 and expired.json()["expires_in"] <= 3, expired.text

        self.serial = self.seal(self.a, a_clerk.user_id)
        self.seal(self.c, c_clerk.user_id)
        self.b_credentials = self.client_credentials(self.b)
        self.a_client_id = self.client_credentials(self.a)["client_id"]  # for rows on one of A's clients
        self.out = self.send(a_clerk.api, self.c, attachments=[("attachments", ("附件.txt", b"attachment"))])
        self.in_ = self.send(c_clerk.api, self.a)
        c_system = bearer(stack, self.token(self.client_credentials(self.c)))
        asked = c_system.post(f"/api/v1/documents/{self.out}/print-requests", json={"copies": 1, "reason": "需要"})
        assert asked.status_code == 201, asked.text
        self.print_request = asked.json()["request_id"]
        self.manifest = a_clerk.api.get(f"/api/v1/documents/{self.out}/manifest").content
        self.signature = a_clerk.api.get(f"/api/v1/documents/{self.out}/signature.p7s").content
        self.manifest_sha256 = hashlib.sha256(self.manifest).hexdigest()
        self.png = self.operator.get(f"/api/v1/seals/{self.serial}/image.png").content
        # A real dead letter (made directly: the matrix only needs its id to exist).
        with Databases(stack).engines["registry"].begin() as db:
            self.letter_id = db.exec_driver_sql(
                "INSERT INTO dead_letters (queue, event_type, body, headers, reason, dead_at, replay_count) "
                "VALUES ('matrix-nowhere', 'matrix', '{}', '{}', 'matrix', now(), 0) RETURNING id").scalar()

        # The ledger entry of A's document_sent (A and C may read it, B may not).
        self.ledger_index = wait_until(lambda: [seq for seq in [Databases(stack).scalar(
            "archive", "SELECT seq FROM ledger_entries WHERE document_id = :d AND event_type = 'document_sent'",
            d=self.out)] if seq is not None], message="the archive to record A's document")[0]
        self.link_code = wait_until(lambda: Databases(stack).scalar(
            "notify", "SELECT link_code FROM tracked_documents WHERE id = :d", d=self.out),
            message="notify to follow A's document")
        self.sessions = {"anonymous": lambda: Api(stack.gateway_url),
                         "expired_proxy": lambda: bearer(stack, expired.json()["access_token"]),
                         "staff": lambda: bearer(stack, self.staff_token()),
                         "other_system": lambda: bearer(stack, self.token(self.b_credentials)),
                         "proxy": lambda: bearer(stack, self.act_for(a_leader.api))}
        self.unit_of = {"staff": self.a, "proxy": self.a, "other_system": self.b}
        wait_until(lambda: self.sessions["expired_proxy"]().get("/api/v1/me").status_code == 401, timeout=60,
                   message="the first proxy window to end")
        self.name_proxy(a_admin.api, timedelta(hours=1))
        self.apis = {identity: session() for identity, session in self.sessions.items()}

    def name_proxy(self, admin, length):
        named = admin.post("/api/v1/proxies", json={
            "principal_user_id": self.a_admin_id, "proxy_user_id": self.a_leader_id,
            "starts_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
            "ends_at": (datetime.now(UTC) + length).isoformat()})
        assert named.status_code == 201, named.text

    def act_for(self, leader):
        issued = leader.post("/api/v1/auth/act-for", json={"principal_user_id": self.a_admin_id})
        assert issued.status_code == 200, issued.text
        return issued.json()["access_token"]

    def seal(self, unit, custodian):
        body = {"unit_code": unit, "custody": {"required_approvals": 1, "custodian_user_ids": [custodian]}}
        applied = when_known(lambda: self.operator.post("/api/v1/seals", json=body), message="the seal service")
        assert applied.status_code == 201, applied.text
        approved = self.operator.post(f"/api/v1/seals/{applied.json()['serial']}/approve")
        assert approved.status_code == 200, approved.text
        return approved.json()["serial"]

    def client_credentials(self, unit):
        made = self.operator.post(f"/api/v1/units/{unit}/clients")
        assert made.status_code == 201, made.text
        return {"client_id": made.json()["client_id"], "client_secret": made.json()["client_secret"]}

    def token(self, credentials):
        issued = Api(self.stack.gateway_url).post("/api/v1/auth/token", json=credentials)
        assert issued.status_code == 200, issued.text
        return issued.json()["access_token"]

    def send(self, clerk, to, attachments=()):
        files = [("metadata", (None, json.dumps(metadata(self, to)))), ("body", ("正文.txt", b"body")),
                 *attachments]
        sent = when_known(lambda: clerk.post("/api/v1/documents", files=files), message="the exchange")
        assert sent.status_code == 201, sent.text
        return sent.json()["id"]

    def login_body(self):
        issued = challenge(Api(self.stack.gateway_url), self.staff_username)
        return {"username": self.staff_username, "password": self.staff_password,
                "challenge_id": issued["challenge_id"], "signature": signed(self.staff_key, issued["nonce"])}

    def staff_token(self):
        reply = Api(self.stack.gateway_url).post("/api/v1/auth/login", json=self.login_body())
        assert reply.status_code == 200, reply.text
        return reply.json()["access_token"]

    def next_staff_password(self):
        self._passwords += 1
        return f"Gw-Matrix-2026#{self._passwords}"

    def verification_parts(self):
        return {"manifest": ("manifest.json", self.manifest), "signature": ("signature.p7s", self.signature)}

    def path_values(self, row):
        return {"code": self.a, "user_id": self.user_id, "serial": self.serial, "n": 1, "year": 2031,
                "document_id": self.out if row.doc == "out" else self.in_, "request_id": self.print_request,
                "service": "registry", "letter_id": self.letter_id, "client_id": self.a_client_id,
                "index": self.ledger_index, "urgency": "urgent", "name": "reminder", "link_code": self.link_code}

    def call(self, identity, method, path, row):
        api = self.sessions[identity]() if row.fresh else self.apis[identity]
        values = self.path_values(row)
        url = re.sub(r"{([a-z_]+)}", lambda m: str(values[m.group(1)]), path)
        body = row.body(self) if row.body else None
        reply = api.http.request(method.upper(), api.base_url + url, json=body,
                                 files=row.files(self) if row.files else None,
                                 data=row.data(self) if row.data else None,
                                 params=row.query(self) if row.query else None, timeout=30,
                                 allow_redirects=False)  # a redirect is the answer (GET /l/{link_code})
        if row.fresh and identity == "staff" and "new_password" in (body or {}) and reply.status_code == 204:
            self.staff_password = body["new_password"]
        return reply


def outcome(reply):
    return OK if reply.status_code < 300 or reply.status_code in (409, 422) else reply.status_code


@pytest.fixture(scope="module")
def world(stack):
    return World(stack)


def test_the_table_has_a_row_for_every_operation_of_the_openapi_document(stack):
    spec = Api(stack.gateway_url).get("/api/v1/openapi.json").json()
    served = {(method, path) for path, operations in spec["paths"].items() for method in operations}
    assert served - set(TABLE) == set(), "operations the attacker table lacks: add a row each"
    assert set(TABLE) - served == set(), "rows for operations the gateway no longer serves"
    public = {(m, p) for (m, p), row in TABLE.items() if row.public}
    assert public == {(m, p) for path, ops in spec["paths"].items() for m, op in ops.items()
                      if "security" not in op for p in [path]}


@pytest.mark.parametrize("identity", IDENTITIES)
def test_each_identity_may_do_exactly_what_the_table_says(world, identity):
    wrong = []
    for (method, path), row in TABLE.items():
        reply = world.call(identity, method, path, row)
        assert reply.status_code < 500, (identity, method, path, reply.status_code, reply.text)
        got, expected = outcome(reply), row.expected(identity)
        if got == OK and row.check and not row.check(world, identity, reply):
            got = "ok, but showed more than its own"
        if got != expected:
            wrong.append(f"{method.upper()} {path}: expected {expected}, got {got} {reply.text[:160]}")
        elif got != OK and reply.status_code >= 400:  # an error's body (a redirect has none)
            assert reply.json()["error"] and reply.json()["request_id"], (method, path, reply.text)
    assert not wrong, f"{identity}:\n" + "\n".join(wrong)


def test_nothing_of_the_other_units_changed(world):
    """What the refused calls aimed at is as it was (the proxy's allowed calls come last)."""
    a = world.operator.get(f"/api/v1/units/{world.a}").json()
    assert (a["status"], a["name"]) == ("active", f"单位 {world.a}")
    dbs = Databases(world.stack)
    assert dbs.rows("exchange", "SELECT state, print_copies_used FROM receipts WHERE document_id = :d",
                    d=world.in_) == [("delivered", 0)]
    assert dbs.scalar("registry", "SELECT replay_count FROM dead_letters WHERE id = :i", i=world.letter_id) == 0
