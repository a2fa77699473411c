"""Accounts: who may create, approve, disable and reset; what a new account must carry."""
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import func, select

from gongwen_identity.models import AuditRecord, DeviceKey, User


def request(world, username, **fields):
    key = world.keys.setdefault(username.lower(), world.new_key())
    return {"username": username, "name": "王五", "unit_code": "gz-fgw", "roles": ["clerk"],
            "mobile": "138 0013 8000", "initial_password": "Orchid#2026-new",
            "device_public_key": world.public_pem(key), **fields}


def test_an_admin_requests_a_pending_account_and_the_operator_approves_it(world):
    admin, operator = world.actor("dave"), world.actor("operator")
    created = world.call("create_user", request(world, "Wang.Wu"), admin)
    assert {k: created[k] for k in ("username", "unit_code", "roles", "mobile", "status", "must_change_password",
                                    "created_by")} == {
        "username": "wang.wu", "unit_code": "gz-fgw", "roles": ["clerk"], "mobile": "+8613800138000",
        "status": "pending", "must_change_password": True, "created_by": admin["user_id"]}
    [event] = world.events("user_created")
    assert event == {"user": created, "created_by": admin["user_id"]} and "Orchid" not in str(event)
    world.passwords["wang.wu"] = "Orchid#2026-new"
    refusal = world.login_refused("wang.wu")
    assert (refusal.code, refusal.message) == ("ACCOUNT_DISABLED", "The account awaits the operator's approval.")

    assert world.refused("approve_user", created["user_id"], admin).code == "FORBIDDEN"
    approved = world.call("approve_user", created["user_id"], operator)
    assert approved["status"] == "active"
    assert world.events("user_approved") == [{"user": approved, "approved_by": operator["user_id"]}]
    assert world.refused("approve_user", created["user_id"], operator).code == "INVALID_USER_STATE"
    actions = world.session.scalars(select(AuditRecord.action).where(AuditRecord.subject_id == created["user_id"]))
    assert {"user_created", "user_approved", "login_refused"} <= set(actions)


def test_the_operator_creates_active_accounts_and_an_admin_keeps_to_their_unit(world):
    admin, operator = world.actor("dave"), world.actor("operator")
    assert world.call("create_user", request(world, "zhao.liu"), operator)["status"] == "active"

    other_unit = world.refused("create_user", request(world, "qian.qi", unit_code="gz-cz"), admin)
    assert (other_unit.code, other_unit.status) == ("FORBIDDEN", 403)
    grant = world.refused("create_user", request(world, "sun.ba", roles=["operator"]), admin)
    assert grant.code == "FORBIDDEN"
    assert world.refused("create_user", request(world, "li.jiu"), world.actor("bob")).code == \
        "PASSWORD_CHANGE_REQUIRED"  # bob is still on his initial password
    # Another unit's user does not exist for this admin (404, not 403).
    carol = world.user("carol")
    for method, args in (("disable_user", (carol.id, admin, {"reason": "left"})),
                         ("reset_password", (carol.id, {"initial_password": "Ok#2026pass"}, admin)),
                         ("get_user", (carol.id, admin))):
        assert world.refused(method, *args).code == "NOT_FOUND"
    assert world.refused("disable_user", world.user("dave").id, admin, {"reason": "bye"}).code == "FORBIDDEN"
    assert world.refused("disable_user", world.user("bob").id, admin, {"reason": "  "}).code == "VALIDATION_ERROR"
    assert world.call("get_user", world.user("bob").id, admin)["username"] == "bob"
    assert world.call("me", carol.id) == {"user_id": carol.id, "username": "carol", "name": carol.name,
                                          "unit_code": "gz-cz", "roles": ["staff"]}


def test_what_a_new_account_must_carry(world):
    operator = world.actor("operator")

    def refused(**fields):
        return world.refused("create_user", request(world, fields.pop("username", "new.user"), **fields), operator)

    taken = refused(username="ALICE")
    assert (taken.code, taken.status) == ("USERNAME_TAKEN", 409)
    for mobile in ("12345", "+86 10 6552 9988", "not a number"):  # a Beijing landline is no mobile
        bad = refused(mobile=mobile)
        assert (bad.code, bad.status) == ("INVALID_PHONE_NUMBER", 422)
    assert refused(mobile=None, roles=["leader"]).fields == {
        "mobile": ["a mobile number is required for a leader or a clerk"]}
    assert refused(roles=["chief"]).code == "VALIDATION_ERROR"
    unknown = refused(unit_code="no-such-unit")
    assert (unknown.code, unknown.status) == ("UNKNOWN_UNIT", 422)

    rsa_pem = world.public_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    p384_pem = world.public_pem(ec.generate_private_key(ec.SECP384R1()))
    private_pem = world.new_key().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()).decode()
    for pem in (rsa_pem, p384_pem, private_pem, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", ""):
        bad = refused(device_public_key=pem)
        assert (bad.code, bad.status) == ("INVALID_DEVICE_KEY", 422)
    in_use = refused(device_public_key=world.public_pem(world.keys["alice"]))
    assert (in_use.code, in_use.status) == ("DEVICE_KEY_IN_USE", 409)
    weak = refused(initial_password="Password1!")
    assert (weak.code, weak.status) == ("PASSWORD_TOO_WEAK", 400)
    assert world.session.scalar(select(func.count()).select_from(User)) == 5
    assert world.events("user_created") == []


def test_a_repeated_create_with_the_same_idempotency_key_returns_the_first_answer(world):
    operator = world.actor("operator")
    first = world.call("create_user", request(world, "zhou.shi"), operator, idempotency_key="k-1")
    again = world.call("create_user", {**request(world, "zhou.shi"), "initial_password": "Other#2026pw"},
                       operator, idempotency_key="k-1")
    assert again == first and len(world.events("user_created")) == 1
    assert world.refused("create_user", request(world, "wu.shiyi"), operator, idempotency_key="k-1").code == \
        "IDEMPOTENCY_KEY_REUSED"


def test_replacing_the_u_key_ends_the_old_key_and_its_sessions(world):
    bob, old_key, new_key = world.user("bob"), world.keys["bob"], world.new_key()
    session = world.login("bob")
    replaced = world.call("replace_device", bob.id, {"public_key": world.public_pem(new_key)}, world.actor("dave"))
    assert replaced["device"]["fingerprint"] != ""
    jti = jwt.decode(session["access_token"], options={"verify_signature": False})["jti"]
    assert [e["jti"] for e in world.events("token_revoked")] == [jti]
    assert world.login_refused("bob", key=old_key).code == "DEVICE_SIGNATURE_INVALID"
    assert world.login("bob", key=new_key)["token_type"] == "Bearer"
    statuses = world.session.scalars(select(DeviceKey.status).where(DeviceKey.user_id == bob.id))
    assert sorted(statuses) == ["active", "replaced"]
    assert world.refused("replace_device", bob.id, {"public_key": "junk"},
                         world.actor("dave")).code == "INVALID_DEVICE_KEY"


def test_active_members_are_the_units_active_users_only(world):
    alice, bob, carol = world.user("alice"), world.user("bob"), world.user("carol")
    world.call("disable_user", bob.id, world.actor("dave"), {"reason": "left the unit"})
    assert world.call("active_members", "gz-fgw", [alice.id, bob.id, carol.id, "nobody"]) == [alice.id]
