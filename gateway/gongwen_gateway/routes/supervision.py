"""Supervision (exchange): who was on duty, per unit."""
from ..auth import ANY_ROLE
from ..http import api


class SupervisionRoutes:
    @api("GET", "/api/v1/supervision/presence", summary="Duty windows in which no clerk of a unit was online",
         tag="operations", query={"date": "string", "unit": "string"}, roles=ANY_ROLE, errors=(400, 503))
    def presence(self, request, actor):
        return 200, self.call("exchange", "presence_report", request.args.get("date", ""), actor,
                              unit_code=request.args.get("unit"))
