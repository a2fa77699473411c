"""Answer shapes of the archive (API.md "Archive"): archival packages and their disposal, search
hits, and the ledger's signed tree heads, entries and RFC 6962 proofs, as the gateway documents them.
The archive takes no request body (its routes have path values and query strings only)."""
from marshmallow import Schema, fields, validate

# Who approves a disposal (销毁): the operator, and the sending unit's admin.
APPROVER_CAPACITIES = ("operator", "unit_admin")
# An archival package is kept, awaits the second approval of its disposal, or is disposed of.
DISPOSAL_STATUSES = ("kept", "awaiting_approval", "disposed")


class TreeHeadSchema(Schema):
    tree_size = fields.Integer()
    root_hash = fields.String(metadata={"description": "base64 of the 32-byte root"})
    timestamp = fields.Integer(metadata={"description": "milliseconds since the epoch, as signed"})
    signature = fields.String(metadata={"description": "base64 DER ECDSA P-256 over RFC 6962's TreeHeadSignature"})
    key_id = fields.String(metadata={"description": "hex SHA-256 of the key's SubjectPublicKeyInfo"})
    signed_at = fields.DateTime()


class LedgerKeySchema(Schema):
    key_id = fields.String()
    algorithm = fields.String()
    public_key_pem = fields.String()
    created_at = fields.DateTime()


class LedgerKeysSchema(Schema):
    keys = fields.List(fields.Nested(LedgerKeySchema))


class LedgerEntrySchema(Schema):
    index = fields.Integer()
    leaf_input = fields.String(metadata={"description": "base64 of the exact bytes hashed as the leaf"})
    source = fields.String()
    event_id = fields.String()
    event_type = fields.String()
    occurred_at = fields.DateTime()
    document_id = fields.String(allow_none=True)
    units = fields.List(fields.String())


class LedgerEntriesSchema(Schema):
    items = fields.List(fields.Nested(LedgerEntrySchema))
    tree_size = fields.Integer()


class InclusionProofSchema(Schema):
    index = fields.Integer()
    tree_size = fields.Integer()
    audit_path = fields.List(fields.String(), metadata={"description": "base64 hashes, leaf side first"})


class ConsistencyProofSchema(Schema):
    first = fields.Integer()
    second = fields.Integer()
    proof = fields.List(fields.String())


class SearchHitSchema(Schema):
    document_id = fields.String()
    doc_number = fields.String()
    title = fields.String()
    issuer_code = fields.String()
    urgency = fields.String()
    signer = fields.String(allow_none=True)
    status = fields.String()
    sent_at = fields.DateTime()


class DisposalApprovalSchema(Schema):
    approver_id = fields.String()
    capacity = fields.String(validate=validate.OneOf(APPROVER_CAPACITIES))
    proxy_user_id = fields.String(allow_none=True)
    approved_at = fields.DateTime()


class DisposalSchema(Schema):
    document_id = fields.String()
    retention_class = fields.String(metadata={"description": "the document's kind (文种), which sets its retention"})
    retain_until = fields.DateTime(allow_none=True, metadata={"description": "null: kept permanently (永久)"})
    status = fields.String(validate=validate.OneOf(DISPOSAL_STATUSES))
    disposed_at = fields.DateTime(allow_none=True)
    approvals = fields.List(fields.Nested(DisposalApprovalSchema))
