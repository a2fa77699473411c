"""Seals (seal): applications, issue, images, revocation, destruction, custody approvals, sealing
and verification."""
import base64

from werkzeug.wrappers import Response

from gongwen_common.rpc import to_wire
from gongwen_contracts.seal.schemas import (
    DestructionSchema,
    SealApplicationSchema,
    SealingSchema,
    SealRevocationSchema,
    SealSchema,
    UseApprovalRequestSchema,
    UseApprovalSchema,
    VerificationSchema,
)

from ..auth import ANY_ROLE
from ..http import api, form_parts
from . import CLERK, OPERATOR, OPERATOR_OR_ADMIN

# A manifest to seal is a JSON object, sealed as sent: its bytes must be its RFC 8785 canonical form.
MANIFEST_PART = {"type": "object", "description": "the manifest (文件清单), a JSON object sealed byte for byte as "
                 "sent: RFC 8785 canonical JSON, with `issuer_code` (if any) the caller's unit; otherwise 422 "
                 "INVALID_MANIFEST", "properties": {"issuer_code": {"type": "string"}}}

VERIFICATION_FORM = {"manifest": "file", "signature": "file", "body": "file", "attachments": "files",
                     "unit_code": "string"}


def verification_parts(request) -> dict:
    parts = form_parts(request, required=("manifest", "signature"), optional=("body", "unit_code"),
                       many=("attachments",))
    body = parts.get("body")
    return dict(manifest_b64=to_wire(parts["manifest"]), signature_b64=to_wire(parts["signature"]),
                unit_code=parts.get("unit_code") if isinstance(parts.get("unit_code"), str) else None,
                body_b64=to_wire(body) if isinstance(body, bytes) else None,
                attachments_b64={name: to_wire(data) for name, data in parts["attachments"]} or None)


class SealRoutes:
    @api("GET", "/api/v1/seals/ca.pem", summary="The operator CA certificate, for anyone verifying a seal",
         tag="seals", produces="application/x-pem-file", errors=(503,), public=True)
    def ca_pem(self, request):
        return Response(self.call("seal", "ca_certificate"), mimetype="application/x-pem-file")

    @api("POST", "/api/v1/seals", summary="Apply for the unit's electronic seal (电子印章)", tag="seals",
         request_schema=SealApplicationSchema, response_schema=SealSchema, status=201, idempotent=True,
         roles=OPERATOR_OR_ADMIN, errors=(400, 404, 409, 422, 503))
    def apply_seal(self, request, body, actor, idempotency_key):
        """The seal service checks with identity that the custodians are active users of the unit."""
        return 201, self.call("seal", "apply_seal", body, actor, idempotency_key=idempotency_key)

    @api("POST", "/api/v1/seals/<serial>/approve", summary="Approve a seal: its key and certificate are made",
         tag="seals", response_schema=SealSchema, roles=OPERATOR, errors=(404, 409, 503))
    def approve_seal(self, request, serial, actor):
        return 200, self.call("seal", "approve_seal", serial, actor)

    @api("GET", "/api/v1/seals/<serial>", summary="One seal (its unit and the operator)", tag="seals",
         response_schema=SealSchema, roles=ANY_ROLE, errors=(404, 503))
    def get_seal(self, request, serial, actor):
        return 200, self.call("seal", "get_seal", serial, actor)

    @api("GET", "/api/v1/seals/<serial>/certificate.pem", summary="A seal's certificate (public: for verifiers)",
         tag="seals", produces="application/x-pem-file", roles=ANY_ROLE, errors=(404, 503))
    def seal_certificate(self, request, serial):
        return Response(self.call("seal", "seal_certificate", serial), mimetype="application/x-pem-file")

    @api("GET", "/api/v1/seals/<serial>/image.png", summary="A seal's image (印章图像)", tag="seals",
         produces="image/png", roles=ANY_ROLE, errors=(404, 503))
    def seal_image(self, request, serial):
        return Response(base64.b64decode(self.call("seal", "seal_image", serial)), mimetype="image/png")

    @api("PUT", "/api/v1/seals/<serial>/image.png", summary="Upload the seal image before the seal is issued "
         "(otherwise it is rendered from the unit's name)", tag="seals", response_schema=SealSchema,
         accepts="image/png", roles=OPERATOR_OR_ADMIN, errors=(400, 404, 409, 413, 503))
    def upload_seal_image(self, request, serial, actor):
        png = request.get_data(cache=False)
        return 200, self.call("seal", "set_seal_image", serial, to_wire(png), actor)

    @api("POST", "/api/v1/seals/<serial>/revoke", summary="Revoke a seal", tag="seals",
         request_schema=SealRevocationSchema, response_schema=SealSchema, roles=OPERATOR_OR_ADMIN,
         errors=(400, 404, 409, 503))
    def revoke_seal(self, request, serial, body, actor):
        return 200, self.call("seal", "revoke_seal", serial, body, actor)

    @api("POST", "/api/v1/seals/<serial>/destruction-approvals", summary="Record one party's presence at the "
         "seal's destruction (operator, secrecy bureau, owning unit); the third destroys it", tag="seals",
         response_schema=DestructionSchema, roles=("operator", "secrecy_officer", "admin"),
         errors=(404, 409, 503))
    def approve_destruction(self, request, serial, actor):
        """The seal service asks the registry whether a secrecy officer's unit is the secrecy bureau."""
        return 200, self.call("seal", "approve_destruction", serial, actor)

    @api("POST", "/api/v1/seals/<serial>/use-approvals", summary="A custodian approves one use of the seal on one "
         "manifest (two-person custody)", tag="seals", request_schema=UseApprovalRequestSchema,
         response_schema=UseApprovalSchema, status=201, roles=ANY_ROLE, errors=(400, 404, 409, 503))
    def approve_use(self, request, serial, body, actor):
        return 201, self.call("seal", "approve_use", serial, body, actor)

    @api("POST", "/api/v1/seals/sign", summary="Seal a manifest with the caller's unit seal (detached CMS)",
         tag="seals", form={"manifest": MANIFEST_PART, "approval_ids": "string"}, form_required=("manifest",),
         response_schema=SealingSchema,
         roles=CLERK, errors=(400, 404, 409, 413, 422, 503))
    def sign(self, request, principal, actor):
        """For a department system sealing outside the documents flow; ``approval_ids`` comma-separated."""
        parts = form_parts(request, required=("manifest",), optional=("approval_ids",))
        approvals = [a.strip() for a in str(parts.get("approval_ids") or "").split(",") if a.strip()]
        return 200, self.call("seal", "sign", principal.unit_code, to_wire(parts["manifest"].encode()), actor,
                              approval_ids=approvals or None)

    @api("POST", "/api/v1/seals/verify", summary="Verify a sealed manifest (and the parts given)", tag="seals",
         form=VERIFICATION_FORM, form_required=("manifest", "signature"), response_schema=VerificationSchema,
         roles=ANY_ROLE, errors=(400, 413, 503))
    def verify(self, request):
        return 200, self.call("seal", "verify", **verification_parts(request))

    @api("POST", "/api/v1/seals/verify-for-print", summary="Verify a sealed manifest before printing it; no stamp "
         "here: a verification stamp (print serial) comes only with a granted print, POST /documents/{id}/print",
         tag="seals", form=VERIFICATION_FORM, form_required=("manifest", "signature"),
         response_schema=VerificationSchema, roles=ANY_ROLE, errors=(400, 413, 503))
    def verify_for_print(self, request):
        return 200, self.call("seal", "verify", **verification_parts(request))
