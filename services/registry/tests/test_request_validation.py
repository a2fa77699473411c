"""The registry validates each request body it is forwarded, once, with its contract schema: the
gateway passes bodies as sent, so an unknown field or a body that is no object is refused here."""
import pytest


@pytest.mark.parametrize("body, field", [({"x-unknown": 1}, "x-unknown"), (["not", "an", "object"], "_schema")])
def test_the_registry_refuses_a_forwarded_body_its_contract_schema_refuses(registry, body, field):
    registry.unit("aa")
    for method, head in (("register_unit", ()), ("rename_unit", ("aa",)), ("revoke_unit", ("aa",)),
                         ("merge_units", ()), ("set_contacts", ("aa",))):
        refusal = registry.refuses("VALIDATION_ERROR", 400, getattr(registry.service, method), *head, body,
                                   actor=registry.operator)
        assert field in refusal.fields, (method, refusal.fields)
