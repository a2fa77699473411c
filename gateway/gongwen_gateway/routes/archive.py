"""The archive: documents' archival packages; the ledger's signed tree heads, entries with their
exact leaf bytes, and RFC 6962 proofs, so any Certificate Transparency verifier checks what it says."""
import base64

from marshmallow import Schema, fields, validate
from werkzeug.wrappers import Response

from gongwen_contracts.archive.schemas import (
    ConsistencyProofSchema,
    DisposalSchema,
    InclusionProofSchema,
    LedgerEntriesSchema,
    LedgerEntrySchema,
    LedgerKeysSchema,
    SearchHitSchema,
    TreeHeadSchema,
)

from ..auth import ANY_ROLE
from ..http import api
from ..schemas import Page
from . import OPERATOR, OPERATOR_OR_ADMIN

_INDEX = fields.Integer(required=True, validate=validate.Range(min=0, max=2**31 - 1))
_SIZE = fields.Integer(required=True, validate=validate.Range(min=1, max=2**31 - 1))


class EntriesQuerySchema(Schema):
    start = fields.Integer(load_default=0, validate=validate.Range(min=0, max=2**31 - 1),
                           metadata={"description": "the first index wanted"})
    limit = fields.Integer(load_default=1000, validate=validate.Range(min=1, max=1000))


class InclusionQuerySchema(Schema):
    index = _INDEX
    tree_size = _SIZE


class ConsistencyQuerySchema(Schema):
    first = _SIZE
    second = _SIZE


class SearchPageSchema(Page):
    items = fields.List(fields.Nested(SearchHitSchema))


# ``from`` is a Python keyword: the schema is made from a dict so the parameter keeps API.md's name.
SearchQuerySchema = Schema.from_dict({
    "q": fields.String(load_default=None, validate=validate.Length(min=1, max=100),
                       metadata={"description": "words of the number, title, signer or a unit's name or code"}),
    "from": fields.Date(load_default=None, metadata={"description": "first sending day (Asia/Shanghai)"}),
    "to": fields.Date(load_default=None, metadata={"description": "last sending day (Asia/Shanghai)"}),
    "unit": fields.String(load_default=None, validate=validate.Length(min=1, max=64)),
    "limit": fields.Integer(load_default=50, validate=validate.Range(min=1, max=200)),
    "cursor": fields.String(load_default=None, validate=validate.Length(max=200),
                            metadata={"description": "the next_cursor of the previous page"}),
}, name="SearchQuery")


def _day(value):
    return value.isoformat() if value else None


# ``from`` is a Python keyword: the query's schema is built from a dict to keep the API's name.
SupervisionQuerySchema = Schema.from_dict({
    "from": fields.Date(required=True, metadata={"description": "the first day (YYYY-MM-DD)"}),
    "to": fields.Date(required=True, metadata={"description": "the last day, included (at most 366 days)"}),
    "format": fields.String(load_default="json", validate=validate.OneOf(("json", "csv", "html", "pdf")))},
    name="SupervisionQuerySchema")


class UnitTimingSchema(Schema):
    count = fields.Integer()
    median = fields.Float(allow_none=True, metadata={"description": "minutes"})
    p90 = fields.Float(allow_none=True, metadata={"description": "minutes"})


class ElectronicRateSchema(Schema):
    electronic = fields.Integer(metadata={"description": "receipts signed for in the system"})
    paper = fields.Integer(metadata={"description": "receipts served on paper instead"})
    rate = fields.Float(allow_none=True)
    target = fields.Float()
    meets_target = fields.Boolean(allow_none=True)


class SupervisionFiguresSchema(Schema):
    received = fields.Integer()
    signed_on_time = fields.Integer()
    signed_late = fields.Integer()
    never_signed = fields.Integer()
    pending = fields.Integer()
    returned = fields.Integer()
    paper_served = fields.Integer()
    withdrawn = fields.Integer()
    late_minutes = fields.Dict(keys=fields.String(), values=fields.Float(allow_none=True))
    time_to_sign_minutes = fields.Dict(keys=fields.String(), values=fields.Nested(UnitTimingSchema))
    electronic = fields.Nested(ElectronicRateSchema)


class SupervisionUnitSchema(SupervisionFiguresSchema):
    unit_code = fields.String()
    name = fields.String()
    presence = fields.Dict(allow_none=True, metadata={"description": "working_days, missed_windows, missed"})


class SupervisionReportSchema(Schema):
    period = fields.Dict()
    generated_at = fields.DateTime()
    scope = fields.String(metadata={"description": "all (the operator) or the caller's unit"})
    electronic_target = fields.Float()
    units = fields.List(fields.Nested(SupervisionUnitSchema))
    totals = fields.Nested(SupervisionFiguresSchema)
    late = fields.List(fields.Dict())
    never_signed = fields.List(fields.Dict())
    returned = fields.List(fields.Dict())
    urgent_late_evidence = fields.List(fields.Dict(), metadata={
        "description": "late urgent receipts: notifications (channel, to, told_at, status, delivered_at) and "
                       "fault: sender (nobody told), receiver (told and delivered) or undetermined"})
    distribution = fields.List(fields.Dict(), metadata={"description": "signed receipts per time-to-sign bin"})
    presence_note = fields.String(allow_none=True)


class ArchiveRoutes:
    @api("GET", "/api/v1/search", summary="Search the documents your unit sent or received (the operator: all)",
         tag="archive", response_schema=SearchPageSchema, query=SearchQuerySchema, roles=ANY_ROLE,
         errors=(400, 404, 503))  # 404: a cursor this search never gave
    def search(self, request, actor, query):
        return 200, self.call("archive", "search_documents", actor, q=query["q"], start=_day(query["from"]),
                              end=_day(query["to"]), unit=query["unit"], limit=query["limit"], cursor=query["cursor"])

    @api("GET", "/api/v1/documents/<document_id>/archive", summary="The archival package (归档包): a zipped BagIt "
         "bag that verifies with openssl and sha256sum", tag="archive", produces="application/zip", roles=ANY_ROLE,
         errors=(404, 503))
    def archival_package(self, request, document_id, actor):
        got = self.call("archive", "archival_package", document_id, actor, timeout=60)
        response = Response(base64.b64decode(got["data"]), mimetype=got["media_type"])
        response.headers["Content-Disposition"] = f'attachment; filename="{got["name"]}"'
        return response

    @api("POST", "/api/v1/documents/<document_id>/disposal-approvals", summary="Approve disposing of an expired "
         "archival package (销毁): the operator's and the sending unit's admin's approvals; the second disposes",
         tag="archive", response_schema=DisposalSchema, roles=OPERATOR_OR_ADMIN, errors=(403, 404, 409, 503))
    def approve_disposal(self, request, document_id, actor):
        return 200, self.call("archive", "approve_disposal", document_id, actor)

    @api("GET", "/api/v1/ledger/tree-head", summary="The latest signed tree head", tag="archive",
         response_schema=TreeHeadSchema, roles=ANY_ROLE, errors=(404, 503))
    def tree_head(self, request):
        return 200, self.call("archive", "ledger_tree_head")

    @api("GET", "/api/v1/ledger/keys", summary="The public keys that sign tree heads", tag="archive",
         response_schema=LedgerKeysSchema, roles=ANY_ROLE, errors=(503,))
    def ledger_keys(self, request):
        return 200, self.call("archive", "ledger_keys")

    @api("GET", "/api/v1/ledger/entries", summary="Consecutive ledger entries (the operator's, to verify it all)",
         tag="archive", response_schema=LedgerEntriesSchema, query=EntriesQuerySchema, roles=OPERATOR,
         errors=(400, 503))
    def ledger_entries(self, request, actor, query):
        return 200, self.call("archive", "ledger_entries", query["start"], query["limit"], actor)

    @api("GET", "/api/v1/ledger/entries/<int:index>", summary="One ledger entry, to the units it concerns",
         tag="archive", response_schema=LedgerEntrySchema, roles=ANY_ROLE, errors=(404, 503))
    def ledger_entry(self, request, index, actor):
        return 200, self.call("archive", "ledger_entry", index, actor)

    @api("GET", "/api/v1/ledger/proof", summary="Inclusion proof of an entry in a tree (RFC 6962 §2.1.1)",
         tag="archive", response_schema=InclusionProofSchema, query=InclusionQuerySchema, roles=ANY_ROLE,
         errors=(400, 404, 503))  # 404: the entry is not in a tree of that size
    def ledger_proof(self, request, query):
        return 200, self.call("archive", "ledger_inclusion_proof", query["index"], query["tree_size"])

    @api("GET", "/api/v1/ledger/consistency", summary="Consistency proof between two tree sizes (RFC 6962 §2.1.2)",
         tag="archive", response_schema=ConsistencyProofSchema, query=ConsistencyQuerySchema, roles=ANY_ROLE,
         errors=(400, 404, 503))
    def ledger_consistency(self, request, query):
        return 200, self.call("archive", "ledger_consistency_proof", query["first"], query["second"])

    @api("GET", "/api/v1/reports/supervision", summary="The supervision report (督查通报) of a period, per unit: "
         "on time, late, never signed, returned, time-to-sign, notification evidence, presence, electronic rate",
         tag="archive", query=SupervisionQuerySchema, response_schema=SupervisionReportSchema,
         produces=("text/csv", "text/html", "application/pdf"), roles=("operator", "admin", "clerk"),
         errors=(400, 422, 503))  # 422 INVALID_PERIOD: to before from, over 366 days, outside 2000–2100
    def supervision_report(self, request, actor, query):
        """The operator sees every unit; a unit's admin and clerks their own (the archive decides)."""
        first, last = query["from"].isoformat(), query["to"].isoformat()
        got = self.call("archive", "supervision_report", first, last, query["format"], actor, timeout=120)
        if query["format"] == "json":
            return 200, got
        response = Response(base64.b64decode(got["data"]), content_type=got["media_type"])
        response.headers["Content-Disposition"] = f'attachment; filename="{got["name"]}"'
        return response
