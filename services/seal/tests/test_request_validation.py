"""The seal service validates each request body it is forwarded, once, with its contract schema:
the gateway passes bodies as sent, so an unknown field or a body that is no object is refused here."""
import pytest

from gongwen_seal.models import Seal


@pytest.mark.parametrize("body, field", [({"x-unknown": 1}, "x-unknown"), (["not", "an", "object"], "_schema")])
def test_the_seal_service_refuses_a_forwarded_body_its_contract_schema_refuses(seals, body, field):
    seal = seals.active_seal("gz-fgw")
    before = [(s.serial, s.status) for s in seals.session.query(Seal)]
    for method, head, tail in (("apply_seal", (), (seals.admin("gz-fgw"),)),
                               ("revoke_seal", (seal["serial"],), (seals.admin("gz-fgw"),)),
                               ("approve_use", (seal["serial"],), (seals.person("keeper1-gz-fgw", "gz-fgw"),))):
        refusal = seals.refused(method, *head, body, *tail)
        assert (refusal.code, refusal.status) == ("VALIDATION_ERROR", 400), method
        assert field in refusal.fields, (method, refusal.fields)
    assert [(s.serial, s.status) for s in seals.session.query(Seal)] == before
