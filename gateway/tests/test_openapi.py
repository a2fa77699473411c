"""The OpenAPI document is generated from the gateway's routes and schemas (no services)."""
from gongwen_gateway.http import ROUTES
from gongwen_gateway.openapi import build_spec
from gongwen_gateway.service import GatewayService  # noqa: F401  (declares the routes)


def test_every_documented_route_is_in_the_document_with_error_responses():
    spec = build_spec()
    for method, url in ROUTES:
        path = url.replace("<int:", "{").replace("<", "{").replace(">", "}")
        operation = spec["paths"][path][method.lower()]
        assert "500" in operation["responses"]
    create = spec["paths"]["/api/v1/units"]["post"]
    assert create["responses"]["201"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Unit"}
    assert {"400", "409", "413", "422"} <= set(create["responses"])
    assert "/<path:path>" not in spec["paths"] and "/{path}" not in spec["paths"]
