"""The archive's events: a document's archival package taken in (the exchange may then drop the
document's content once its own retention has passed)."""
from marshmallow import fields

from ..events import EventData


class PackageArchivedData(EventData):
    document_id = fields.String(required=True)
    sha256 = fields.String(required=True, metadata={"description": "hex SHA-256 of the package (a zipped BagIt bag)"})
    size = fields.Integer(required=True)
    tree_size = fields.Integer(required=True, metadata={"description": "the ledger's tree the package was checked "
                                                                        "against"})
    issuer_code = fields.String(required=True)
    unit_codes = fields.List(fields.String(), required=True)
    retention_class = fields.String(required=True)
    retain_until = fields.DateTime(allow_none=True, metadata={"description": "null: kept permanently (永久)"})
    four_properties = fields.Dict(keys=fields.String(), values=fields.Boolean(), required=True,
                                  metadata={"description": "authenticity, integrity, usability, security: each ok"})


EVENTS = {"package_archived": PackageArchivedData}
