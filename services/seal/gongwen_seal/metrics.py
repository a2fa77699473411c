"""The seal's metrics (``gongwen_common.metrics``): its operations, counted by the instance that
did them, and each certificate's days to expiry, read from the database at scrape time."""
from prometheus_client import Counter

from gongwen_common.metrics import DatabaseCollector

from .domain import expiry

SEAL_OPERATIONS = Counter("gongwen_seal_operations_total", "Seal operations by kind and outcome (ok or the "
                          "refusal's code).", ("service", "operation", "outcome"), registry=None)
# The entrypoints SEAL_OPERATIONS counts (``Metrics(operations=…)``).
OPERATIONS = frozenset({"apply_seal", "approve_seal", "revoke_seal", "approve_use", "approve_destruction",
                        "sign", "verify", "verify_for_print"})
CERTIFICATE_EXPIRY_DAYS = "gongwen_certificate_expiry_days"
NAMES = frozenset({"gongwen_seal_operations_total", CERTIFICATE_EXPIRY_DAYS})


class SealCollector(DatabaseCollector):
    def gauges(self, session, now):
        days = self.gauge(CERTIFICATE_EXPIRY_DAYS, "Days until a certificate expires: the CA's and every "
                          "active seal's.", ["certificate", "certificate_serial", "unit_code"])
        for certificate in expiry.certificates(session):
            days.add_metric([self.service, certificate.kind, certificate.certificate_serial,
                             certificate.unit_code or ""], (certificate.not_after - now).total_seconds() / 86400)
        yield days
