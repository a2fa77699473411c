"""The JSON entrypoint: request ids, size limit, error bodies, and the route table for OpenAPI.

Every error a client sees has the body ``{"error", "message", "request_id", "fields"?}`` and
one HTTP status per code; unknown errors are logged with the request id and answered as a
bare ``INTERNAL`` 500, never with a traceback.

Routes are closed by default: each declares the ``roles`` that may call it, or ``public=True``;
a route declaring neither (or both) fails when the service module is imported.

A route's function receives, besides the request and its path values, what it names of
``body`` (the JSON object of the request, as sent: the service that owns the operation validates
it with the declared ``request_schema``, its contract's, once), ``actor`` (who acts, as
services record it), ``principal`` (the verified caller) and ``idempotency_key`` (the
``Idempotency-Key`` header, for a route declared ``idempotent=True``). The declaration and the
function must agree (checked when the module is imported), and the OpenAPI document is built
from the same declaration, so it documents a body or an ``Idempotency-Key`` exactly where one
is used.
"""
import inspect
import json
import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from functools import partial

from eventlet.event import Event
from nameko.extensions import register_entrypoint
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import WebServer, WsgiApp
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from gongwen_common import serialization
from gongwen_common.errors import (
    DomainError,
    Forbidden,
    NotFound,
    PasswordChangeRequired,
    PayloadTooLarge,
    ValidationFailed,
    validated,
)
from gongwen_common.logging import set_correlation_id
from gongwen_common.tables import IdempotencyRecord

from .auth import Keyring, actor_of, security_log
from .limits import RateLimiter

log = logging.getLogger("gongwen.gateway")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")

MAX_JSON_DEPTH = 32  # the deepest body of the API is 4 levels; deeper is an attack on the parsers


class MalformedJson(DomainError):
    code, status = "MALFORMED_JSON", 400


class MethodNotAllowed(DomainError):
    """A path the API has, with a method it does not: 405 and the ``Allow`` header the path has."""

    code, status = "METHOD_NOT_ALLOWED", 405

    def __init__(self, allowed, **kwargs):
        super().__init__(**kwargs)
        self.headers = {"Allow": ", ".join(allowed)}


ANY_METHOD = "*"  # a route answering every method (the JSON 404/405 for what no route takes)


@dataclass
class Route:
    method: str
    url: str
    summary: str
    tag: str
    request_schema: object = None
    response_schema: object = None
    status: int = 200
    query: dict = field(default_factory=dict)
    errors: tuple = ()
    roles: object = None
    public: bool = False
    # multipart parts: name → "file" | "files" | "string" | a JSON part: a marshmallow schema or a JSON schema (dict)
    form: dict = field(default_factory=dict)
    produces: str | tuple | None = None  # a media type other than JSON (PEM, PNG, DER), or several
    idempotent: bool = False  # honours Idempotency-Key: a retry with the same key repeats no effect
    form_required: tuple = ()  # the multipart parts that must be sent
    accepts: str | None = None  # a raw request body of this media type (e.g. a PNG upload)
    path: dict = field(default_factory=dict)  # a path value's bounds beyond its type: name → JSON schema
    also: tuple = ()  # other success statuses, with the same body (e.g. 202 beside 201)
    rate_limited: bool = False  # in a RateLimiter group: the source address may come from X-Forwarded-For
    headers: tuple = ()  # other request headers the route reads: OpenAPI header parameters


# Keyed by (method, url): nameko re-instantiates entrypoints per container.
ROUTES: dict[tuple, Route] = {}
# Every (method, url) answered by a route, documented or not: what ``Allow`` lists for a path.
METHODS: set[tuple] = set()


def allowed_methods(path) -> list[str]:
    """The methods of the route template that takes ``path`` (HEAD with GET, as werkzeug serves it),
    sorted; a literal template wins over one with values (``/units/merge`` is not ``/units/<code>``),
    as the document lists them."""
    urls = {url for _, url in METHODS}
    matching = [url for url in urls
                if Map([Rule(url)], merge_slashes=False).bind("gateway").test(path)]
    if not matching:
        return []
    best = min(url.count("<") for url in matching)
    methods = {method for method, url in METHODS if url in matching and url.count("<") == best}
    return sorted(methods | ({"HEAD"} if "GET" in methods else set()))


def json_response(status, payload, headers=None):
    return Response(serialization.response_body(payload), status=status, headers=headers,
                    mimetype="application/json")


def error_body(code, message, request_id, fields=None):
    body = {"error": code, "message": message, "request_id": request_id}
    if fields and isinstance(fields, dict):
        body["fields"] = fields
    return body


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def _text_problem(text: str, form_field=False) -> str | None:
    """Why a text cannot be stored as it is (PostgreSQL refuses NUL and unpaired surrogates), if so."""
    if "\x00" in text:
        return "must not contain a NUL character"
    if form_field and "\ufffd" in text:  # werkzeug decodes a field's bytes that are not UTF-8 to U+FFFD
        return "must be valid UTF-8"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid UTF-8 (no unpaired surrogates)"
    return None


def _nested(path, message):
    """``{"a": {"0": [message]}}`` for path ``("a", 0)``: where marshmallow puts a field's errors."""
    fields = [message]
    for key in reversed(path):
        fields = {key: fields}
    return fields if path else {"_schema": fields}


def checked_json(data):
    """``data`` if it is no deeper than ``MAX_JSON_DEPTH`` and its texts (keys and values) are
    storable; otherwise ``MALFORMED_JSON`` (too deep) or ``VALIDATION_ERROR`` naming the field.
    Iterative, so a deep document cannot exhaust the stack here."""
    pending = [((), data)]
    while pending:
        path, value = pending.pop()
        if len(path) > MAX_JSON_DEPTH:
            raise MalformedJson(message=f"The JSON is nested deeper than {MAX_JSON_DEPTH} levels.")
        if isinstance(value, dict):
            for key, item in value.items():
                if problem := _text_problem(key):
                    raise ValidationFailed(_nested(path, f"a key {problem}"))
                pending.append(((*path, key), item))
        elif isinstance(value, list):
            pending.extend(((*path, index), item) for index, item in enumerate(value))
        elif isinstance(value, str) and (problem := _text_problem(value)):
            raise ValidationFailed(_nested(path, problem))
    return data


def parse_json(raw, what="The request body"):
    """JSON text or bytes → a checked value; ``MALFORMED_JSON`` for anything a strict parser refuses
    (including NaN/Infinity and nesting deep enough to exhaust the recursive parser)."""
    try:
        data = json.loads(raw or b"", parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise MalformedJson(message=f"{what} is not valid JSON.") from None
    return checked_json(data)


def json_object(request) -> dict:
    """The body, if it is a JSON object within the limits (depth, storable texts); its fields are
    the owning service's to validate, with its contract's schema. 400 otherwise, nothing done."""
    data = parse_json(request.get_data(cache=True))
    if not isinstance(data, dict):
        raise ValidationFailed({"_schema": ["Expected a JSON object."]})
    return data


def is_json_part(kind) -> bool:
    """A multipart part declared by its schema (marshmallow or JSON Schema): JSON text, sent as a field
    (``Content-Type: application/json``, as the document's ``encoding`` says) or as a UTF-8 file."""
    return isinstance(kind, type | dict)


def form_parts(request, required=(), optional=(), many=()) -> dict:
    """The named parts of a multipart/form-data body: a file's bytes, a field's text, and for a
    part named in ``many`` a list of ``(filename, bytes)`` (e.g. ``attachments``). Missing → 400.

    The route's ``form`` declaration decides each part's kind: a ``file``/``files`` part must be
    sent as a file (with a filename: a bare field is decoded text, no longer the bytes); a
    ``string`` part may come as a field or as a file of UTF-8 text, and is always ``str``."""
    if not (request.mimetype or "").startswith("multipart/form-data"):
        raise ValidationFailed({"_schema": ["Expected multipart/form-data."]})
    if not request.mimetype_params.get("boundary"):
        raise ValidationFailed({"_schema": ["The multipart/form-data content type has no boundary."]})
    kinds = getattr(request, "form_kinds", None) or {}
    parts, problems = {}, {}
    for name in many:
        if name in request.form:
            problems[name] = ["must be sent as files (parts with a filename)"]
        parts[name] = [(f.filename or name, f.read()) for f in request.files.getlist(name)]
    for name in (*required, *optional):
        kind = kinds.get(name, "file")
        if is_json_part(kind):  # a JSON part, described by its schema: its text, parsed by the route
            kind = "string"
        if name in request.files:
            data = request.files[name].read()
            if kind == "string":
                try:
                    data = data.decode("utf-8")
                except UnicodeDecodeError:
                    problems[name] = ["must be valid UTF-8"]
                    continue
                if problem := _text_problem(data):
                    problems[name] = [problem]
            parts[name] = data
        elif name in request.form:
            if kind != "string":
                problems[name] = ["must be sent as a file (a part with a filename)"]
                continue
            parts[name] = request.form[name]
            if problem := _text_problem(parts[name], form_field=True):
                problems[name] = [problem]
        elif name in required:
            problems[name] = ["required"]
    if problems:
        raise ValidationFailed(problems)
    return parts


# What every service stores: its column, less the scope a service may prefix (exchange keeps a print's
# key as "<receipt uuid>/<key>", so it takes 128), the same for every route the document lists.
MAX_IDEMPOTENCY_KEY = min(IdempotencyRecord.__table__.c.key.type.length, 128)
_IDEMPOTENCY_KEY = re.compile(rf"^[\x21-\x7e]{{1,{MAX_IDEMPOTENCY_KEY}}}\Z")
MAX_PATH_INT = 2**31 - 1  # ids and years are 32-bit in every database; a larger number names nothing


IDEMPOTENCY_KEY_PATTERN = rf"^[\x21-\x7e]{{1,{MAX_IDEMPOTENCY_KEY}}}$"  # the document's (ECMA: $ is the end)


def checked_idempotency_key(headers):
    """An ``Idempotency-Key`` the services can store as it is, or ``VALIDATION_ERROR`` before
    anything is done (only where a route honours the header: elsewhere it is ignored)."""
    key = headers.get("Idempotency-Key")
    if key is not None and not _IDEMPOTENCY_KEY.match(key):
        raise ValidationFailed({"Idempotency-Key": [
            f"1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"]})


def checked_url_values(path_values, query):
    """Path values and query parameters a service could not even look up (a NUL, a number beyond
    any id): ``NOT_FOUND`` for a path, ``VALIDATION_ERROR`` for a query parameter."""
    for name, value in path_values.items():
        if (isinstance(value, int) and not 0 <= value <= MAX_PATH_INT) or \
                (isinstance(value, str) and _text_problem(value)):
            raise NotFound(message=f"no resource with this {name}")
    problems = {name: [problem] for name, value in query.items(multi=True)
                if (problem := _text_problem(name) or _text_problem(value))}
    if problems:
        raise ValidationFailed(problems)


INJECTED = ("body", "actor", "principal", "idempotency_key", "query")  # what a route's function may name


def injected_names(fn) -> frozenset:
    return frozenset(inspect.signature(fn).parameters) & frozenset(INJECTED)


def routing_error(request) -> Response:
    """What no rule matches (a path werkzeug cannot even parse, e.g. with a newline): our JSON
    404, or 405 with ``Allow`` where routes take the path with other methods."""
    request_id = uuid.uuid4().hex
    if allowed := allowed_methods(request.path):
        exc = MethodNotAllowed(allowed, message=f"{request.method} is not allowed here.")
    else:
        exc = NotFound(message="no resource at this path")
    response = json_response(exc.status, error_body(exc.code, exc.message, request_id),
                             getattr(exc, "headers", None))
    response.headers["X-Request-Id"] = request_id
    return response


class ApiWsgiApp(WsgiApp):
    """nameko's WSGI app, with routing errors answered as our JSON errors (never werkzeug's HTML)."""

    def __call__(self, environ, start_response):
        request = Request(environ, shallow=True)
        try:
            provider, values = self.url_map.bind_to_environ(environ).match()
        except HTTPException:
            return routing_error(request)(environ, start_response)
        request.path_values = values
        return provider.handle_request(request)(environ, start_response)


class ApiServer(WebServer):
    def make_url_map(self):
        url_map = Map(merge_slashes=False)  # ``//`` is a path no route takes (404), not a redirect
        for provider in self._providers:
            rule = provider.get_url_rule()
            rule.endpoint = provider
            url_map.add(rule)
        return url_map

    def get_wsgi_app(self):
        return ApiWsgiApp(self)


class ApiEntrypoint(HttpRequestHandler):
    server = ApiServer()
    keyring = Keyring()
    limiter = RateLimiter()

    def __init__(self, method, url, summary="", tag="system", request_schema=None,
                 response_schema=None, status=200, query=None, errors=(), document=True,
                 roles=None, public=False, during_password_change=False, form=None, produces=None,
                 uploads=False, rate_limit=None, idempotent=False, form_required=(), accepts=None, path=None, also=(),
                 headers=(), expected_exceptions=DomainError, **kwargs):
        """``roles``: ``ANY_ROLE`` for any authenticated caller, or the roles that may call it;
        ``public=True`` instead for a route without a token. One of the two, always: a route
        that forgot its ``roles`` must not become public. ``during_password_change``: still
        allowed before the initial password is changed. ``request_schema``: the owning service's
        contract schema of the JSON body, documented; the body is passed as ``body`` once it is a JSON
        object within the limits, and the service validates it. ``idempotent``: the route honours ``Idempotency-Key``
        (passed as ``idempotency_key``). ``query``: a schema of the query parameters, validated
        before the route runs (passed as ``query``); the document gives each one's type and bounds.
        ``form_required``: the multipart parts that must be sent (documented as required);
        ``accepts``: the media type of a raw request body (documented, read by the route);
        ``path``: bounds of path values beyond their type (documented; the service checks them);
        ``also``: other success statuses the route answers, with the same body; ``headers``: other
        request headers the route reads, as OpenAPI header parameters (documented)."""
        if (roles is None) == (not public):
            raise TypeError(f"{method} {url}: declare either roles= or public=True (routes are closed by default)")
        super().__init__(method, url, expected_exceptions=expected_exceptions, **kwargs)
        self.roles = roles
        self.public = public
        self.request_schema = request_schema
        self.idempotent = idempotent
        self.query = query
        # one instance per route: marshmallow deep-copies every declared field when a schema is made,
        # most of a query's validation time (issue 15); loading keeps no state in it
        self.query_schema = query() if isinstance(query, type) else None
        self.injects = frozenset()  # set from the function in setup(): a bound copy keeps only __init__'s
        self.form = form or {}
        self.during_password_change = during_password_change
        self.uploads = uploads  # documents with files: MAX_UPLOAD_BYTES instead of MAX_BODY_BYTES
        self.rate_limit = rate_limit  # a RateLimiter group, e.g. "auth"
        METHODS.update((one, url) for one in method.split(",") if one != ANY_METHOD)
        if document:
            if not public:
                errors = tuple(sorted({401, 403, *errors}))
            for one in method.split(","):
                ROUTES[(one, url)] = Route(one, url, summary, tag, request_schema, response_schema,
                                           status, query or {}, errors, roles, public, form or {}, produces,
                                           idempotent, tuple(form_required), accepts, path or {}, tuple(also),
                                           rate_limited=bool(rate_limit), headers=tuple(headers))

    def check_declaration(self, fn):
        """The function takes ``body`` exactly when a request schema is declared, and
        ``idempotency_key`` exactly when the route is declared idempotent; a public route has no
        caller to pass as ``actor`` or ``principal``."""
        names = injected_names(fn)
        where = f"{self.method} {self.url} ({fn.__name__})"
        if ("body" in names) != (self.request_schema is not None):
            raise TypeError(f"{where}: takes `body` exactly when it declares request_schema=")
        if ("idempotency_key" in names) != self.idempotent:
            raise TypeError(f"{where}: takes `idempotency_key` exactly when it declares idempotent=True")
        if self.public and names & {"actor", "principal"}:
            raise TypeError(f"{where}: a public route has no caller to pass as `actor` or `principal`")
        if clash := set(re.findall(r"<(?:[a-z]+:)?([a-z_]+)>", self.url)) & set(INJECTED):
            raise TypeError(f"{where}: a path value may not be named {sorted(clash)}: the entrypoint passes those")

    def get_url_rule(self):
        if self.method == ANY_METHOD:
            return Rule(self.url, methods=None)
        return super().get_url_rule()

    @classmethod
    def decorator(cls, *args, **kwargs):
        def registering_decorator(fn):
            entrypoint = cls(*args, **kwargs)
            entrypoint.check_declaration(fn)
            register_entrypoint(fn, entrypoint)
            return fn
        return registering_decorator

    def setup(self):
        super().setup()
        self.injects = injected_names(getattr(self.container.service_cls, self.method_name))

    def injected(self, request) -> dict:
        """What the route's function names: the body (a JSON object, validated by the service it is
        forwarded to), who acts, the idempotency key."""
        values = {}
        if "body" in self.injects:
            values["body"] = json_object(request)
        if "actor" in self.injects:
            values["actor"] = actor_of(request.principal)
        if "principal" in self.injects:
            values["principal"] = request.principal
        if "idempotency_key" in self.injects:
            values["idempotency_key"] = request.headers.get("Idempotency-Key")
        if "query" in self.injects:
            values["query"] = request.validated_query
        return values

    def validated_query(self, request):
        """The declared query parameters, validated (others are ignored); ``{}`` without a schema."""
        if self.query_schema is None:
            return {}
        fields = self.query._declared_fields
        return validated(self.query_schema, {name: value for name, value in request.args.items() if name in fields})

    def authorise(self, request):
        """The verified caller, or the refusal: 401 without a valid token, 403 without the role."""
        if self.public:
            return None
        principal = request.principal = self.keyring.authenticate(request.headers.get("Authorization", ""))
        if principal.must_change_password and not self.during_password_change:
            raise PasswordChangeRequired(message="Change the initial password first (POST /api/v1/auth/password).")
        if not principal.may(self.roles):
            raise Forbidden(message="Your role may not do this.")
        return principal

    def handle_request(self, request):
        started = time.monotonic()
        supplied = request.headers.get("X-Request-Id", "")
        request_id = supplied if _REQUEST_ID.match(supplied) else uuid.uuid4().hex
        set_correlation_id(request_id)  # refusals are logged before any worker runs: they carry it too
        config = self.container.config
        request.max_content_length = int(config.get("MAX_UPLOAD_BYTES", 62914560) if self.uploads
                                         else config.get("MAX_BODY_BYTES", 1048576))
        request.max_form_memory_size = request.max_content_length
        request.shallow = False
        request.form_kinds = self.form
        try:
            request.principal = None
            if self.rate_limit:
                self.limiter.check(self.rate_limit, request)
            if (request.content_length or 0) > request.max_content_length:
                raise PayloadTooLarge(message=f"The body exceeds {request.max_content_length} bytes.")
            principal = self.authorise(request)
            context = {"correlation_id": request_id}
            if principal:
                context.update(user_id=principal.user_id, unit_code=principal.unit_code)
                if principal.proxy_user_id:
                    context.update(proxy_user_id=principal.proxy_user_id)
            args, kwargs = self.get_entrypoint_parameters(request)
            checked_url_values(kwargs, request.args)
            if self.idempotent:
                checked_idempotency_key(request.headers)
            request.validated_query = self.validated_query(request)
            kwargs = {**kwargs, **self.injected(request)}
            self.check_signature(args, kwargs)
            done = Event()
            self.container.spawn_worker(self, args, kwargs, context_data=context,
                                        handle_result=partial(self.handle_result, done))
            response = self.response_from_result(done.wait())
        except Exception as exc:
            response = self.error_response(exc, request, request_id)
        response.headers["X-Request-Id"] = request_id
        log.info("%s %s %s", request.method, request.path, response.status_code,
                 extra={"request_id": request_id, "status": response.status_code,
                        "duration_ms": round((time.monotonic() - started) * 1000, 1),
                        "remote_addr": request.remote_addr})
        set_correlation_id(None)
        return response

    def response_from_result(self, result):
        if isinstance(result, Response):
            return result
        status, payload = result if isinstance(result, tuple) else (200, result)
        if status == 204:
            return Response(status=204)
        return json_response(status, payload)

    def error_response(self, exc, request, request_id):
        if isinstance(exc, RequestEntityTooLarge):
            exc = PayloadTooLarge(message="The body is too large.")
        if isinstance(exc, DomainError) and exc.status in (401, 403, 429):
            principal = getattr(request, "principal", None)
            security_log.warning("%s refused: %s", request.path, exc.code, extra={
                "request_id": request_id, "method": request.method, "path": request.path,
                "remote_addr": request.remote_addr, "code": exc.code,
                "user_id": principal.user_id if principal else None,
                "unit_code": principal.unit_code if principal else None,
                "proxy_user_id": principal.proxy_user_id if principal else None})
        if isinstance(exc, DomainError):
            headers = dict(getattr(exc, "headers", None) or {})
            if getattr(exc, "retry_after", None):
                headers["Retry-After"] = str(exc.retry_after)
            return json_response(exc.status, error_body(exc.code, exc.message, request_id, exc.fields), headers)
        log.error("unhandled error", exc_info=(type(exc), exc, exc.__traceback__),
                  extra={"request_id": request_id})
        return json_response(500, error_body("INTERNAL", "Internal error.", request_id))


api = ApiEntrypoint.decorator
