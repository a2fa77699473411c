"""Exchange service: documents (公文), their receipts and deadlines."""
