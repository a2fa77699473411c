"""The OpenAPI document, generated from the route table and the marshmallow schemas."""
import functools
import re

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.common import resolve_schema_cls

from .http import IDEMPOTENCY_KEY_PATTERN, MAX_IDEMPOTENCY_KEY, MAX_PATH_INT, ROUTES, is_json_part
from .schemas import ErrorSchema

_ERROR_STATUS_TEXT = {400: "Invalid request", 401: "Not authenticated", 403: "Forbidden",
                      404: "Not found", 409: "Conflict", 413: "Payload too large",
                      422: "Rejected by a domain rule", 429: "Too many requests (see Retry-After)",
                      503: "A service is unavailable"}


class _Plugin(MarshmallowPlugin):
    """marshmallow → OpenAPI, plus a schema's ``OPENAPI_EXTRA`` (its cross-field rules, e.g. a
    ``oneOf``), so the document says what the schema's ``validates_schema`` checks."""

    def init_spec(self, spec):
        super().init_spec(spec)
        self.converter.add_attribute_function(_field_property)

    def schema_helper(self, name, definition, schema=None, **kwargs):
        json_schema = super().schema_helper(name, definition, schema=schema, **kwargs)
        if schema is not None and (extra := getattr(resolve_schema_cls(schema), "OPENAPI_EXTRA", None)):
            json_schema = {**json_schema, **extra}
        return json_schema


NO_NUL = "^[^\\u0000]*$"  # every text: the gateway refuses a NUL before any schema (400)


def _field_property(self, field, ret, **kwargs) -> dict:
    """A field's ``OPENAPI_PROPERTY`` replaces what apispec infers (e.g. an id taken as a string or an
    integer); a free text says it has no NUL; a nullable nested schema is it or null."""
    if (replaced := getattr(field, "OPENAPI_PROPERTY", None)) is not None:
        ret.clear()
        return dict(replaced)
    if "anyOf" in ret:  # apispec's nullable Nested: "or null", not "or any object"
        ret["anyOf"] = [{**alternative, "enum": [None]} if alternative == {"type": "object", "nullable": True}
                        else alternative for alternative in ret["anyOf"]]
    if ret.get("type") == "string" and not ret.keys() & {"pattern", "format", "enum"}:
        return {"pattern": NO_NUL}
    return {}


_PATH_INT = {"type": "integer", "minimum": 0, "maximum": MAX_PATH_INT}
_PATH_TEXT = {"type": "string", "minLength": 1, "pattern": NO_NUL}
_REQUEST_ID_PARAMETER = {"in": "header", "name": "X-Request-Id", "required": False, "schema": {"type": "string"},
                         "description": "echoed in the answer if it matches ^[A-Za-z0-9._:-]{1,100}$, otherwise "
                                        "replaced by a new id; the correlation id of every log line and event"}
_REQUEST_ID_HEADER = {"required": True, "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,100}$"}}
_FORWARDED_FOR = {"in": "header", "name": "X-Forwarded-For", "required": False, "schema": {"type": "string"},
                  "description": "read only behind TRUSTED_PROXY_HOPS trusted reverse proxies, which append the "
                                 "client's address: the rate limit then counts that address (otherwise ignored)"}
_RETRY_AFTER = {"required": False, "schema": {"type": "integer", "minimum": 0}, "description": "seconds to wait"}
_DOWNLOAD = {"required": True, "schema": {"type": "string"},
             "description": "attachment; filename=\"ASCII fallback\"; filename*=UTF-8''<the name, percent-encoded>"}
_ALSO_STATUS_TEXT = {202: "Accepted: awaiting a further step", 503: "Degraded: some service is down"}


_PART_MEDIA_TYPES = {"file": "application/octet-stream", "files": "application/octet-stream", "string": "text/plain"}


def _openapi_path(url):
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", url)


def _query_parameter(parameter):
    """A query parameter is absent or a text, never null: ``load_default=None`` means "absent"."""
    schema = {k: v for k, v in parameter["schema"].items() if k != "nullable" and not (k == "default" and v is None)}
    if "enum" in schema:
        schema["enum"] = [value for value in schema["enum"] if value is not None]
    return {**parameter, "schema": schema}


@functools.cache  # the routes are fixed once the service module is imported
def build_spec() -> dict:
    spec = APISpec(title="Gongwen gateway API", version="1.0.0", openapi_version="3.0.3",
                   plugins=[_Plugin()],
                   info={"description": "Electronic official-document exchange (电子公文交换). "
                                        "Errors: {error, message, request_id, fields?}. Texts (bodies, "
                                        "path and query values) are UTF-8 without NUL characters: any "
                                        "other is a 400 VALIDATION_ERROR."})
    spec.components.schema("Error", schema=ErrorSchema)
    spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    converter = spec.plugins[0].converter
    paths = {}
    for (method, url), route in sorted(ROUTES.items(), key=lambda item: (item[0][1], item[0][0])):
        params = [{"in": "path", "name": name, "required": True,
                   "schema": {**(_PATH_INT if kind == "int:" else _PATH_TEXT), **route.path.get(name, {})}}
                  for kind, name in re.findall(r"<([a-z]+:)?([a-z_]+)>", url)]
        if isinstance(route.query, type):  # a schema: each parameter's type, bounds and format
            params += [_query_parameter(p) for p in converter.schema2parameters(route.query, location="query")]
        else:
            params += [{"in": "query", "name": name, "schema": {"type": kind}} for name, kind in route.query.items()]
        op = {"summary": route.summary, "tags": [route.tag], "parameters": params,
              "responses": {str(route.status): {"description": "OK"}}}
        if not route.public:
            op["security"] = [{"bearerAuth": []}]
            op["x-roles"] = "any" if isinstance(route.roles, str) else sorted(route.roles)
        if route.response_schema is not None:
            op["responses"][str(route.status)]["content"] = {"application/json": {"schema": route.response_schema}}
        if route.produces is not None:  # a media type, or several beside the JSON of response_schema
            content = op["responses"][str(route.status)].setdefault("content", {})
            for media_type in (route.produces,) if isinstance(route.produces, str) else route.produces:
                content[media_type] = {"schema": {"type": "string", "format": "binary"}}
        if route.form:
            kinds = {"file": {"type": "string", "format": "binary"},
                     "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                     "string": {"type": "string", "pattern": NO_NUL}}
            form = {"type": "object", "properties": {
                name: converter.resolve_nested_schema(kind) if isinstance(kind, type)
                else dict(kind) if isinstance(kind, dict) else kinds[kind]
                for name, kind in route.form.items()}}
            if route.form_required:
                form["required"] = list(route.form_required)
            # each part's media type, as the route reads it: bytes, UTF-8 text, or JSON text
            media = {"schema": form, "encoding": {name: {"contentType": "application/json" if is_json_part(kind) else
                                                         _PART_MEDIA_TYPES[kind]} for name, kind in route.form.items()}}
            op["requestBody"] = {"required": True, "content": {"multipart/form-data": media}}
        for status in route.also:
            op["responses"][str(status)] = {**op["responses"][str(route.status)],
                                            "description": _ALSO_STATUS_TEXT.get(status, "OK")}
        if route.accepts is not None:
            op["requestBody"] = {"required": True, "content": {route.accepts: {
                "schema": {"type": "string", "format": "binary"}}}}
        if route.request_schema is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": route.request_schema}}}
        if route.idempotent:  # declared with the route, which then receives the key: documented where honoured
            op["parameters"].append({"in": "header", "name": "Idempotency-Key", "required": False, "schema": {
                "type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY,
                "pattern": IDEMPOTENCY_KEY_PATTERN}})
        # a path value that names nothing (or is not even of the path's type) is 404 on every such route;
        # a checked Idempotency-Key or query may be a 400 where the body cannot
        implied = {*((404,) if "<" in url else ()), *((400,) if route.idempotent or route.query else ())}
        for status in sorted({500, *route.errors, *implied} - set(route.also)):
            op["responses"][str(status)] = {"description": _ERROR_STATUS_TEXT.get(status, "Internal error"),
                                            "content": {"application/json": {"schema": "Error"}}}
        # the headers every answer carries, and those of a 429 and of a download
        op["parameters"].append(_REQUEST_ID_PARAMETER)
        if route.rate_limited:
            op["parameters"].append(_FORWARDED_FOR)
        op["parameters"].extend(route.headers)
        for status, response in op["responses"].items():
            response["headers"] = {"X-Request-Id": _REQUEST_ID_HEADER,
                                   **({"Retry-After": _RETRY_AFTER} if status == "429" else {}),
                                   **({"Content-Disposition": _DOWNLOAD} if route.produces and route.tag == "documents"
                                      and status == str(route.status) else {})}
        paths.setdefault(_openapi_path(url), {})[method.lower()] = op
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


# The README's endpoint table: one row per operation of the document, grouped by area.
README_BEGIN = "<!-- endpoints: generated by `python -m gongwen_gateway.openapi --update-readme README.md` -->"
README_END = "<!-- end of endpoints -->"
_AREAS = ("system", "auth", "units", "users", "seals", "documents", "operations")


def _who(operation) -> str:
    if "security" not in operation:
        return "public"
    roles = operation["x-roles"]
    return "any signed-in caller" if roles == "any" else ", ".join(roles)


def readme_table(spec: dict) -> str:
    """The operations of ``spec`` (method, path, who may call, what; idempotent ones say so)."""
    rows = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            what = operation["summary"]
            if any(p["in"] == "header" and p["name"] == "Idempotency-Key" for p in operation["parameters"]):
                what += "; `Idempotency-Key` honoured"
            tag = operation["tags"][0]
            rows.append(((_AREAS.index(tag) if tag in _AREAS else len(_AREAS), tag, path, method),
                         f"| {method.upper()} | `{path}` | {_who(operation)} | {what.replace('|', chr(92) + '|')} |"))
    return "\n".join(["| method | path | who | what |", "|---|---|---|---|", *(row for _, row in sorted(rows))])


def readme_with_table(readme: str, table: str) -> str:
    """``readme`` with the text between the endpoint markers replaced by ``table``."""
    head, rest = readme.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    return f"{head}{README_BEGIN}\n{table}\n{README_END}{tail}"


def main(argv=None):
    import argparse
    import json
    from pathlib import Path

    from .service import GatewayService  # noqa: F401  (declares the routes)

    parser = argparse.ArgumentParser(prog="python -m gongwen_gateway.openapi",
                                     description="Print the gateway's OpenAPI document (JSON) or its README table.")
    parser.add_argument("--readme-table", action="store_true", help="print the README's endpoint table")
    parser.add_argument("--update-readme", metavar="README", help="rewrite the endpoint table in this README")
    args = parser.parse_args(argv)
    if args.update_readme:
        readme = Path(args.update_readme)
        readme.write_text(readme_with_table(readme.read_text(encoding="utf-8"), readme_table(build_spec())),
                          encoding="utf-8")
    elif args.readme_table:
        print(readme_table(build_spec()))
    else:
        print(json.dumps(build_spec(), ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
