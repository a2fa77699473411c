"""The document exchange (发文 and 收文): ``send``, ``seal``, ``outbox``, ``receipts``, ``inbox``,
``fetch``, ``sign``, ``register``, ``return``; and ``verify``, which needs no server. Their work
is in ``documents`` and ``offline``."""
import json
import sys
import uuid
from enum import Enum
from pathlib import Path

import typer

from . import documents, offline
from .common import (
    INVALID,
    PROFILE,
    USAGE,
    call,
    catching_up,
    echo_json,
    fail,
    gateway_for,
    many,
    read_bytes,
    request,
    segment,
    usage,
)
from .gateway import GatewayError

Urgency = Enum("Urgency", {name: name for name in documents.URGENCIES}, type=str)
ReceiptState = Enum("ReceiptState", {name: name for name in documents.RECEIPT_STATES}, type=str)
DOCUMENT_ID = typer.Argument(..., metavar="DOCUMENT_ID")
TABLE = typer.Option(False, "--table", help="a table for people instead of JSON")


def _table(renderable) -> None:
    from rich.console import Console

    Console().print(renderable)


def send(
    body: Path = typer.Option(..., exists=True, dir_okay=False, help="the body (正文), sent under its file name"),
    attachment: list[Path] = many("--attachment", exists=True, dir_okay=False, metavar="FILE",
                                  help="an attachment (附件)"),
    metadata: Path = typer.Option(None, "--metadata", exists=True, dir_okay=False,
                                  help="the metadata JSON (docs/api.md) as a file; the flags below replace its fields"),
    doc_number: str = typer.Option(None, help="发文字号, e.g. 穗府办〔2026〕1号 (once per issuer and year)"),
    title: str = typer.Option(None, help="标题"),
    signer: str = typer.Option(None, help="签发人"),
    urgency: Urgency = typer.Option(None, help="紧急程度: normal 平急, urgent 加急, extra_urgent 特急"),
    main_recipient: list[str] = many("--main", metavar="CODE", help="主送 unit code"),
    cc_recipient: list[str] = many("--cc", metavar="CODE", help="抄送 unit code"),
    print_grant: list[str] = many("--print-grant", metavar="CODE=N", help="copies a recipient may print"),
    paper_attachment: list[str] = many("--paper-attachment", metavar="TEXT", help="a part that travels on paper"),
    secrecy: str = typer.Option(None, help="密级: only none travels here (the default)"),
    idempotency_key: str = typer.Option(None, help="the same key again sends once (safe retries; default: a new "
                                                   "key for this command, kept while it retries)"),
    progress: bool = typer.Option(None, "--progress/--no-progress",
                                  help="show the upload's progress on stderr (default: when it is a terminal)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="print only the document's id (for DOC=$(gongwen send …))"),
    profile: str = PROFILE,
):
    """Send a sealed document (发文): the exchange seals the manifest with the unit's seal.

    Under two-person custody the answer is status awaiting_seal: the custodians approve its
    manifest_sha256 (gongwen seals approve-use), then gongwen seal DOCUMENT_ID sends it.
    """
    try:
        fields = documents.read_metadata_file(metadata) if metadata is not None else {}
        merged = documents.build_metadata(
            fields, doc_number=doc_number, title=title, signer=signer, urgency=urgency.value if urgency else None,
            main=main_recipient, cc=cc_recipient, grants=documents.print_grants(print_grant),
            paper_attachments=paper_attachment, secrecy=secrecy)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    gateway = gateway_for(profile)
    shown = sys.stderr.isatty() if progress is None else progress
    key = idempotency_key or str(uuid.uuid4())  # so a retry below, or the user's, sends once
    try:
        with documents.progress_bar(shown and not quiet, f"发文 {merged['doc_number']}") as bar:
            sent = catching_up(lambda: documents.send(gateway, merged, body, attachment, key, bar))
    except GatewayError as refused:
        fail(refused)
    except OSError as exc:  # a file changed or vanished while it was being sent
        usage(f"cannot send: {exc}.")
    if quiet:
        typer.echo(sent["id"])
    else:
        echo_json(sent)


def seal(document_id: str = DOCUMENT_ID,
         approval: list[str] = many("--approval", metavar="ID", help="a custodian's approval id (gongwen seals "
                                    "approve-use)"),
         profile: str = PROFILE):
    """Seal and send a document that awaited its custodians' approvals (two-person custody)."""
    if not approval:
        raise typer.BadParameter("give the custodians' approval ids", param_hint="--approval")
    call(profile, "POST", f"/api/v1/documents/{segment(document_id)}/seal", {"seal_use_approval_ids": approval})


def outbox(limit: int = typer.Option(50, min=1, max=200), cursor: str = typer.Option(None),
           table: bool = TABLE, profile: str = PROFILE):
    """The unit's sent documents (发文), newest first, with receipt counts by state."""
    page = request(profile, "GET", "/api/v1/outbox", params={"limit": limit, "cursor": cursor})
    if table:
        _table(documents.outbox_table(page))
    else:
        echo_json(page)


def receipts(document_id: str = DOCUMENT_ID, table: bool = TABLE, profile: str = PROFILE):
    """The sender's receipt matrix: each recipient's state and when it was read, signed for (签收),
    registered (登记) or returned (退回)."""
    answer = request(profile, "GET", f"/api/v1/documents/{segment(document_id)}/receipts")
    if table:
        _table(documents.receipts_table(document_id, answer))
    else:
        echo_json(answer)


def inbox(
    state: ReceiptState = typer.Option(None, help="only receipts in this state"),
    urgency: Urgency = typer.Option(None),
    since: str = typer.Option(None, help="delivered at or after, RFC 3339"),
    limit: int = typer.Option(50, min=1, max=200),
    cursor: str = typer.Option(None, help="next_cursor of the previous page"),
    table: bool = TABLE,
    profile: str = PROFILE,
):
    """The unit's received documents (收文), newest first."""
    page = request(profile, "GET", "/api/v1/inbox", params={
        "state": state.value if state else None, "urgency": urgency.value if urgency else None, "since": since,
        "limit": limit, "cursor": cursor})
    if table:
        _table(documents.inbox_table(page))
    else:
        echo_json(page)


def fetch(
    document_id: str = DOCUMENT_ID,
    to: Path = typer.Option(None, file_okay=False, help="where to save the files (default ./DOCUMENT_ID/)"),
    ca: Path = typer.Option(None, "--ca", dir_okay=False, help="the operator CA (PEM); default: the gateway's, saved"),
    profile: str = PROFILE,
):
    """Download a document (收文) with its manifest and seal, and verify it offline (离线验章).

    Exit 0 valid, 1 invalid, 2 unusable input, 3 refused, 4 unreachable.
    """
    ca_bytes = read_bytes(ca, "CA certificate") if ca is not None else None
    gateway = gateway_for(profile)
    try:
        result = documents.fetch(gateway, document_id, to, ca_bytes)
    except GatewayError as refused:
        fail(refused)
    except (OSError, ValueError) as exc:  # an unwritable folder, or a CA file without a certificate
        usage(f"cannot fetch {document_id}: {exc}")
    echo_json(result)
    typer.echo(offline.REVOCATION_NOTE, err=True)
    raise typer.Exit(0 if result["valid"] else INVALID)


def _document_path(document_id: str, action: str) -> str:
    return f"/api/v1/documents/{segment(document_id)}/{action}"


def sign(document_id: str = DOCUMENT_ID, profile: str = PROFILE):
    """Sign for a received document (签收); the exchange verifies the seal again first."""
    call(profile, "POST", _document_path(document_id, "sign"))


def register_document(document_id: str = DOCUMENT_ID,
                      number: str = typer.Option(..., help="the unit's own registration number (收文编号)"),
                      profile: str = PROFILE):
    """Register a signed-for document (登记) under the unit's number."""
    call(profile, "POST", _document_path(document_id, "register"), {"registration_number": number})


def return_document(document_id: str = DOCUMENT_ID, reason: str = typer.Option(..., help="why, for the sender"),
                    profile: str = PROFILE):
    """Return a document to its sender (退回) with the reason."""
    call(profile, "POST", _document_path(document_id, "return"), {"reason": reason})


def _attachment_files(values: list[str]) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for value in values:
        name, sep, file = value.partition("=")
        if not sep or not name or not file:
            raise typer.BadParameter(f"{value!r}: expected NAME=FILE", param_hint="--attachment")
        if name in files:
            raise typer.BadParameter(f"attachment {name!r} given twice", param_hint="--attachment")
        files[name] = Path(file)
    return files


def verify(
    manifest: Path = typer.Argument(..., metavar="MANIFEST", dir_okay=False,
                                    help="the manifest exactly as sealed (canonical JSON)"),
    signature: Path = typer.Argument(..., metavar="SIGNATURE", dir_okay=False,
                                     help="its detached CMS signature: DER, PEM or base64"),
    ca: Path = typer.Option(..., "--ca", dir_okay=False, help="the operator CA certificate(s), PEM"),
    body: Path = typer.Option(None, dir_okay=False, help="the document body, checked against body_sha256"),
    attachment: list[str] = many("--attachment", metavar="NAME=FILE", help="an attachment to check"),
    unit: str = typer.Option(None, help="the unit that should have sealed it (default: the manifest's issuer_code)"),
    as_json: bool = typer.Option(False, "--json", help="print the result as JSON"),
):
    """Check a sealed manifest offline (离线验章); exit 0 valid, 1 invalid, 2 unusable input."""
    attachment_files = _attachment_files(attachment)
    manifest_bytes, signature_bytes = read_bytes(manifest, "manifest"), read_bytes(signature, "signature")
    ca_bytes = read_bytes(ca, "CA certificate")
    body_bytes = read_bytes(body, "body") if body is not None else None
    attachments = {name: read_bytes(file, f"attachment {name}") for name, file in attachment_files.items()}
    try:
        result = offline.verify_offline(manifest_bytes, signature_bytes, ca_bytes, unit_code=unit, body=body_bytes,
                                        attachments=attachments or None)
    except ValueError as exc:  # only a CA file without a certificate: the wrong file, not an invalid seal
        typer.echo(f"cannot use CA certificate {ca}: {exc}", err=True)
        raise typer.Exit(USAGE) from None
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False))
    else:
        typer.echo("VALID" if result["valid"] else "INVALID")
        for label, key in (("reason", "reason"), ("unit code", "unit_code"), ("seal serial", "seal_serial"),
                           ("signed at", "signed_at")):
            typer.echo(f"{label + ':':<13}{result[key] if result[key] is not None else '-'}")
        typer.echo(offline.REVOCATION_NOTE)
    raise typer.Exit(0 if result["valid"] else INVALID)


def register(app: typer.Typer) -> None:
    for command in (send, seal, outbox, receipts, inbox, fetch, sign):
        app.command()(command)
    app.command("register")(register_document)
    app.command("return")(return_document)
    app.command()(verify)
