"""Archive service: archival packages, the tamper-evident ledger and reports (归档)."""
