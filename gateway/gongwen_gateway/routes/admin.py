"""The operator's administration: the working calendar (exchange) and every service's dead letters."""
from gongwen_common.errors import NotFound
from gongwen_contracts.exchange.schemas import CalendarYearSchema

from ..http import api
from ..schemas import DeadLetterListSchema, DeadLetterQuerySchema, DeadLetterSchema
from . import OPERATOR, SERVICES


class AdminRoutes:
    @api("PUT", "/api/v1/admin/calendar/<int:year>", summary="Load a year's official holiday schedule "
         "(overrides the library)", tag="operations", request_schema=CalendarYearSchema, roles=OPERATOR,
         path={"year": {"minimum": 2000, "maximum": 2100}},
         errors=(400, 422, 503))
    def load_calendar(self, request, year, body, actor):
        return 200, self.call("exchange", "load_calendar", year, body, actor)

    @api("GET", "/api/v1/admin/calendar", summary="Which years the working calendar covers, and warnings",
         tag="operations", roles=OPERATOR, errors=(503,))
    def calendar_status(self, request):
        return 200, self.call("exchange", "calendar_status")

    @api("GET", "/api/v1/admin/dead-letters", summary="Events that kept failing, per service",
         tag="operations", response_schema=DeadLetterListSchema, roles=OPERATOR,
         query=DeadLetterQuerySchema, errors=(400, 503))
    def dead_letters(self, request, query):
        wanted, include = query["service"], query["include_replayed"]
        items = [dict(letter, service=service)
                 for service in ([wanted] if wanted else SERVICES)
                 for letter in self.call(service, "list_dead_letters", include_replayed=include)]
        return 200, {"items": items}

    @api("POST", "/api/v1/admin/dead-letters/<service>/<int:letter_id>/replay",
         summary="Put a dead letter back on its queue", tag="operations", path={"service": {"enum": list(SERVICES)}},
         response_schema=DeadLetterSchema, roles=OPERATOR, errors=(404, 503))
    def replay_dead_letter(self, request, service, letter_id):
        if service not in SERVICES:
            raise NotFound(message=f"no service {service!r}")
        return 200, self.call(service, "replay_dead_letter", letter_id)
