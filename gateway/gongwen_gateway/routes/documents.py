"""Documents (exchange): sending (发文), downloads, the inbox and outbox (收文), signing (签收),
registering (登记), returning (退回), prints, resends (重发) and recalls (撤回)."""
import base64
from urllib.parse import quote

from werkzeug.wrappers import Response

from gongwen_common.rpc import to_wire
from gongwen_contracts.exchange.schemas import (
    DocumentSchema,
    MetadataSchema,
    PaperDeliverySchema,
    PrintRequestSchema,
    PrintSchema,
    ReasonSchema,
    ReceiptSchema,
    RegistrationSchema,
    ResendSchema,
    SealApprovalsSchema,
)

from ..auth import ANY_ROLE
from ..http import api, form_parts, parse_json
from ..schemas import InboxQuerySchema, ListQuerySchema, ReceiptPageSchema
from . import CLERK, RECEIVERS


class DocumentRoutes:
    @api("POST", "/api/v1/documents", summary="Send a sealed document (发文) to main and copy recipients "
         "(202 when a seal under two-person custody awaits its custodians)",
         tag="documents", form={"metadata": MetadataSchema, "body": "file", "attachments": "files"},
         form_required=("metadata", "body"),
         response_schema=DocumentSchema, status=201, also=(202,), idempotent=True, roles=CLERK, uploads=True,
         errors=(400, 403, 409, 413, 422, 503))
    def send_document(self, request, actor, idempotency_key):
        """``metadata`` is the JSON of API.md's metadata (the exchange validates it); ``Idempotency-Key``
        makes a retry send once."""
        parts = form_parts(request, required=("metadata", "body"), many=("attachments",))
        metadata = parse_json(parts["metadata"], "metadata")
        body_file = request.files.get("body")
        files = [{"name": name, "data": to_wire(data)} for name, data in parts["attachments"]]
        sent = self.call("exchange", "send_document", metadata, to_wire(parts["body"]),
                         body_file.filename if body_file else "body", files, actor,
                         idempotency_key=idempotency_key, timeout=60)
        # 202: under two-person custody the custodians approve the manifest first (POST …/{id}/seal then sends).
        return (202 if sent["status"] == "awaiting_seal" else 201), sent

    @api("POST", "/api/v1/documents/<document_id>/seal", summary="Seal and send a document that awaited its "
         "custodians' approvals (two-person custody)", tag="documents", request_schema=SealApprovalsSchema,
         response_schema=DocumentSchema, roles=CLERK, errors=(400, 404, 409, 422, 503))
    def seal_document(self, request, document_id, body, actor):
        return 200, self.call("exchange", "seal_document", document_id, body, actor, timeout=60)

    @api("GET", "/api/v1/documents/<document_id>", summary="A document: the sender sees every receipt, a "
         "recipient its own", tag="documents", response_schema=DocumentSchema, roles=ANY_ROLE, errors=(404, 503))
    def get_document(self, request, document_id, actor):
        return 200, self.call("exchange", "get_document", document_id, actor)

    def _download(self, document_id, part, actor):
        got = self.call("exchange", "download", document_id, part, actor)
        response = Response(base64.b64decode(got["data"]), mimetype=got["media_type"])
        # RFC 6266 / 8187: an ASCII fallback, and the real (often Chinese) name percent-encoded.
        fallback = got["name"].encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
        response.headers["Content-Disposition"] = (f'attachment; filename="{fallback}"; '
                                                   f"filename*=UTF-8''{quote(got['name'], safe='')}")
        return response

    @api("GET", "/api/v1/documents/<document_id>/manifest", summary="The sealed manifest (canonical JSON); "
         "a recipient's first download is its receipt time", tag="documents", produces="application/json",
         roles=ANY_ROLE, errors=(404, 409, 503))
    def download_manifest(self, request, document_id, actor):
        return self._download(document_id, "manifest", actor)

    @api("GET", "/api/v1/documents/<document_id>/signature.p7s", summary="The seal: detached CMS SignedData (DER)",
         tag="documents", produces="application/pkcs7-signature", roles=ANY_ROLE, errors=(404, 409, 503))
    def download_signature(self, request, document_id, actor):
        return self._download(document_id, "signature.p7s", actor)

    @api("GET", "/api/v1/documents/<document_id>/body", summary="The body", tag="documents",
         produces="application/octet-stream", roles=ANY_ROLE, errors=(404, 409, 503))
    def download_body(self, request, document_id, actor):
        return self._download(document_id, "body", actor)

    @api("GET", "/api/v1/documents/<document_id>/attachments/<int:n>", summary="Attachment n (from 1)",
         tag="documents", produces="application/octet-stream", roles=ANY_ROLE, errors=(404, 409, 503))
    def download_attachment(self, request, document_id, n, actor):
        return self._download(document_id, f"attachments/{n}", actor)

    @api("GET", "/api/v1/inbox", summary="The unit's received documents (收文), newest first", tag="documents",
         response_schema=ReceiptPageSchema, query=InboxQuerySchema, roles=ANY_ROLE, errors=(400, 404, 503))
    def inbox(self, request, actor, query):
        since = query.pop("since")
        return 200, self.call("exchange", "inbox", actor, since=since and since.isoformat(), **query)

    @api("GET", "/api/v1/outbox", summary="The unit's sent documents with receipt counts by state",
         tag="documents", response_schema=ReceiptPageSchema, query=ListQuerySchema, roles=ANY_ROLE,
         errors=(400, 503))
    def outbox(self, request, actor, query):
        return 200, self.call("exchange", "outbox", actor, **query)

    @api("GET", "/api/v1/documents/<document_id>/receipts", summary="The sender's matrix: recipients × state × "
         "times", tag="documents", roles=ANY_ROLE, errors=(404, 503))
    def receipts(self, request, document_id, actor):
        return 200, {"items": self.call("exchange", "receipts", document_id, actor)}

    @api("POST", "/api/v1/documents/<document_id>/sign", summary="Sign for it (签收): the seal is verified again",
         tag="documents", response_schema=ReceiptSchema, roles=RECEIVERS, errors=(404, 409, 503))
    def sign_for(self, request, document_id, actor):
        return 200, self.call("exchange", "sign_for", document_id, actor)

    @api("POST", "/api/v1/documents/<document_id>/register", summary="Register it (登记) with the unit's number",
         tag="documents", request_schema=RegistrationSchema, response_schema=ReceiptSchema, roles=RECEIVERS,
         errors=(400, 404, 409, 503))
    def register(self, request, document_id, body, actor):
        return 200, self.call("exchange", "register", document_id, body, actor)

    @api("POST", "/api/v1/documents/<document_id>/return", summary="Return it (退回) with a reason",
         tag="documents", request_schema=ReasonSchema, response_schema=ReceiptSchema, roles=RECEIVERS,
         errors=(400, 404, 409, 503))
    def return_document(self, request, document_id, body, actor):
        return 200, self.call("exchange", "return_document", document_id, body, actor)

    @api("POST", "/api/v1/documents/<document_id>/print", summary="Print one granted copy, with the verification "
         "stamp (a retry with the same Idempotency-Key gets the same copy)", tag="documents",
         response_schema=PrintSchema, idempotent=True, roles=RECEIVERS, errors=(404, 409, 503))
    def print_copy(self, request, document_id, actor, idempotency_key):
        return 200, self.call("exchange", "print_copy", document_id, actor, idempotency_key=idempotency_key)

    @api("POST", "/api/v1/documents/<document_id>/print-requests", summary="Ask the sender for more copies",
         tag="documents", request_schema=PrintRequestSchema, status=201, roles=RECEIVERS,
         errors=(400, 404, 503))
    def request_print_copies(self, request, document_id, body, actor):
        return 201, self.call("exchange", "request_print_copies", document_id, body, actor)

    @api("POST", "/api/v1/documents/<document_id>/print-requests/<request_id>/grant", summary="Grant the copies",
         tag="documents", roles=CLERK, errors=(404, 409, 503))
    def grant_print_request(self, request, document_id, request_id, actor):
        return 200, self.call("exchange", "grant_print_request", document_id, request_id, actor)

    @api("POST", "/api/v1/documents/<document_id>/print-requests/<request_id>/refuse", summary="Refuse the copies",
         tag="documents", roles=CLERK, errors=(404, 409, 503))
    def refuse_print_request(self, request, document_id, request_id, actor):
        return 200, self.call("exchange", "refuse_print_request", document_id, request_id, actor)

    @api("POST", "/api/v1/documents/<document_id>/resend-requests", summary="Ask the sender to send again",
         tag="documents", request_schema=ReasonSchema, status=201, roles=RECEIVERS, errors=(400, 404, 409, 503))
    def request_resend(self, request, document_id, body, actor):
        return 201, self.call("exchange", "request_resend", document_id, body, actor)

    @api("POST", "/api/v1/documents/<document_id>/resend", summary="Send again (重发) to returned or asking "
         "recipients", tag="documents", request_schema=ResendSchema, roles=CLERK, errors=(400, 404, 409, 503))
    def resend(self, request, document_id, body, actor):
        return 200, {"items": self.call("exchange", "resend", document_id, body, actor)}

    @api("POST", "/api/v1/documents/<document_id>/recall", summary="Recall it (撤回) while nobody has signed",
         tag="documents", response_schema=DocumentSchema, roles=CLERK, errors=(404, 409, 503))
    def recall(self, request, document_id, actor):
        return 200, self.call("exchange", "recall", document_id, actor)

    @api("POST", "/api/v1/documents/<document_id>/paper-delivery", summary="Record paper service to a recipient "
         "during an outage", tag="documents", request_schema=PaperDeliverySchema, response_schema=ReceiptSchema,
         roles=CLERK, errors=(400, 404, 409, 503))
    def paper_delivery(self, request, document_id, body, actor):
        return 200, self.call("exchange", "paper_delivery", document_id, body, actor)
