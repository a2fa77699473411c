"""The OpenAPI document, generated from the route table and the marshmallow schemas."""
import functools
import re

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from .http import ROUTES
from .schemas import ErrorSchema

_ERROR_STATUS_TEXT = {400: "Invalid request", 401: "Not authenticated", 403: "Forbidden",
                      404: "Not found", 409: "Conflict", 413: "Payload too large",
                      422: "Rejected by a domain rule", 429: "Too many requests (see Retry-After)",
                      503: "A service is unavailable"}


def _openapi_path(url):
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", url)


@functools.cache  # the routes are fixed once the service module is imported
def build_spec() -> dict:
    spec = APISpec(title="Gongwen gateway API", version="1.0.0", openapi_version="3.0.3",
                   plugins=[MarshmallowPlugin()],
                   info={"description": "Electronic official-document exchange (电子公文交换). "
                                        "Errors: {error, message, request_id, fields?}."})
    spec.components.schema("Error", schema=ErrorSchema)
    spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    paths = {}
    for (method, url), route in sorted(ROUTES.items(), key=lambda item: (item[0][1], item[0][0])):
        params = [{"in": "path", "name": name, "required": True, "schema": {"type": "string"}}
                  for name in re.findall(r"<(?:[a-z]+:)?([a-z_]+)>", url)]
        params += [{"in": "query", "name": name, "schema": {"type": kind}}
                   for name, kind in route.query.items()]
        op = {"summary": route.summary, "tags": [route.tag], "parameters": params,
              "responses": {str(route.status): {"description": "OK"}}}
        if not route.public:
            op["security"] = [{"bearerAuth": []}]
            op["x-roles"] = "any" if isinstance(route.roles, str) else sorted(route.roles)
        if route.response_schema is not None:
            op["responses"][str(route.status)]["content"] = {"application/json": {"schema": route.response_schema}}
        if route.produces is not None:
            op["responses"][str(route.status)]["content"] = {
                route.produces: {"schema": {"type": "string", "format": "binary"}}}
        if route.form:
            kinds = {"file": {"type": "string", "format": "binary"},
                     "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                     "string": {"type": "string"}}
            op["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": {
                "type": "object", "properties": {name: kinds[kind] for name, kind in route.form.items()}}}}}
        if route.request_schema is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": route.request_schema}}}
        if route.idempotent:  # declared with the route, which then receives the key: documented where honoured
            op["parameters"].append({"in": "header", "name": "Idempotency-Key", "schema": {"type": "string"}})
        for status in sorted({500, *route.errors}):
            op["responses"][str(status)] = {"description": _ERROR_STATUS_TEXT.get(status, "Internal error"),
                                            "content": {"application/json": {"schema": "Error"}}}
        paths.setdefault(_openapi_path(url), {})[method.lower()] = op
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()
