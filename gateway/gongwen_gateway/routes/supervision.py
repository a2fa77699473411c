"""Supervision (exchange): who was on duty, per unit."""
from ..auth import ANY_ROLE
from ..http import api
from ..schemas import PresenceQuerySchema


class SupervisionRoutes:
    @api("GET", "/api/v1/supervision/presence", summary="Duty windows in which no clerk of a unit was online",
         tag="operations", query=PresenceQuerySchema, roles=ANY_ROLE, errors=(400, 503))
    def presence(self, request, actor, query):
        return 200, self.call("exchange", "presence_report", query["date"].isoformat(), actor,
                              unit_code=query["unit"])
