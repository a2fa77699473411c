"""Health, the OpenAPI document and its Swagger UI, and the JSON 404 for every unknown path."""
import mimetypes
import time
from pathlib import Path

import eventlet
from kombu import Connection
from swagger_ui_bundle import swagger_ui_path
from werkzeug.utils import safe_join
from werkzeug.wrappers import Response

from gongwen_common.errors import NotFound

from ..http import ANY_METHOD, MethodNotAllowed, allowed_methods, api
from ..openapi import build_spec
from ..schemas import GatewayReadinessSchema, HealthSchema
from . import SERVICES

# A public route: one broker handshake per this many seconds per process, however often it is asked
BROKER_CHECK_SECONDS = 2.0
_broker_checked = {"at": float("-inf"), "ok": False}

_SWAGGER_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Gongwen API</title>
<link rel="stylesheet" href="/api/v1/docs/static/swagger-ui.css"></head><body><div id="ui"></div>
<script src="/api/v1/docs/static/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "/api/v1/openapi.json", dom_id: "#ui"});</script></body></html>"""


class SystemRoutes:
    @api("GET", "/api/v1/health", summary="Health of every service (over RPC: its readiness checks) and the canary",
         response_schema=HealthSchema, also=(503,), public=True)
    def health(self, request):
        def probe(service):
            try:
                return service, self.call(service, "health", timeout=5)
            except Exception as exc:
                return service, {"service": service, "status": "down", "error": str(exc)}

        pile = eventlet.GreenPile()
        for service in SERVICES:
            pile.spawn(probe, service)
        services = dict(pile)
        # The canary's last round trip (the exchange keeps it): failing degrades the whole suite.
        canary = services.get("exchange", {}).get("canary") or {"status": "unknown", "detail": "exchange did not say"}
        healthy = all(h.get("status") == "ok" for h in services.values()) and canary.get("status") != "failing"
        return (200 if healthy else 503), {"status": "ok" if healthy else "degraded", "services": services,
                                           "canary": canary}

    @api("GET", "/api/v1/health/gateway", summary="This gateway's own readiness: it answers and reaches the "
         "broker. A service's trouble is /api/v1/health's, and takes no gateway out of the load balancer",
         response_schema=GatewayReadinessSchema, also=(503,), public=True)
    def gateway_readiness(self, request):
        if time.monotonic() - _broker_checked["at"] > BROKER_CHECK_SECONDS:
            _broker_checked.update(at=time.monotonic(), ok=_broker_reachable(self.config["AMQP_URI"]))
        ok = _broker_checked["ok"]
        return (200 if ok else 503), {"status": "ok" if ok else "degraded", "broker": "ok" if ok else "down"}

    @api("GET", "/api/v1/openapi.json", summary="This OpenAPI document", public=True)
    def openapi(self, request):
        return 200, build_spec()

    @api("GET", "/api/v1/docs", summary="Swagger UI for this API", public=True)
    def docs(self, request):
        return Response(_SWAGGER_PAGE, mimetype="text/html")

    @api("GET", "/api/v1/docs/static/<name>", document=False, public=True)
    def docs_static(self, request, name):
        path = safe_join(swagger_ui_path, name)
        if path is None or not Path(path).is_file():
            raise NotFound(message="no such file")
        return Response(Path(path).read_bytes(), mimetype=mimetypes.guess_type(path)[0] or "application/octet-stream")

    @api(ANY_METHOD, "/", document=False, public=True)
    @api(ANY_METHOD, "/<path:path>", document=False, public=True)
    def not_found(self, request, path=""):
        """Whatever no route takes: 405 with the path's ``Allow`` where the path has routes for other
        methods, else 404 (always our JSON error, never werkzeug's HTML page)."""
        if allowed := allowed_methods(request.path):
            raise MethodNotAllowed(allowed, message=f"{request.method} is not allowed here.")
        raise NotFound(message=f"no resource at {request.path}")


def _broker_reachable(amqp_uri: str, timeout: float = 3.0) -> bool:
    """One AMQP handshake with any node of ``amqp_uri`` (``;``-separated alternates), within ``timeout``."""
    try:
        with eventlet.Timeout(timeout), Connection(amqp_uri, connect_timeout=timeout) as connection:
            connection.ensure_connection(max_retries=len(amqp_uri.split(";")))
            return True
    except (Exception, eventlet.Timeout):  # noqa: BLE001 - any failure is "not reachable", said in the answer
        return False
