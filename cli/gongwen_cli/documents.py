"""The work behind the document commands: sending (发文) and receiving (收文) through the gateway.

``send`` builds the metadata from a file and flags and uploads the parts with a progress bar;
``fetch`` saves a received document's sealed parts and checks the seal offline, so a recipient
holds files it can verify again later without the server. Names on saved files come from the
sender, so they are sanitised and never lead outside the chosen folder.
"""
import json
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from gongwen_common.filenames import safe_filename as safe_name

from . import offline
from .gateway import Gateway

URGENCIES = ("normal", "urgent", "extra_urgent")
RECEIPT_STATES = ("delivered", "read", "signed", "registered", "returned", "recalled", "paper_served")
REQUIRED = {"doc_number": "--doc-number", "title": "--title", "signer": "--signer", "urgency": "--urgency",
            "main_recipients": "--main"}
# The parts saved under fixed names; a sender's body or attachment named alike is renamed instead.
MANIFEST, SIGNATURE, CA = "manifest.json", "signature.p7s", "ca.pem"
PARTS_MISMATCH = "PARTS_MISMATCH"


def segment(value: str) -> str:
    """A path segment from the user's input (an id), so it cannot change the URL's path."""
    return urllib.parse.quote(value, safe="")


# -- 发文 ------------------------------------------------------------------------------------

def read_metadata_file(path: Path) -> dict:
    """The metadata JSON object from a file; ``ValueError`` with a message for anything else."""
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(metadata, dict):
        raise ValueError(f"{path} holds no JSON object")
    return metadata


def print_grants(values: list[str]) -> dict[str, int]:
    """``CODE=N`` flags as API.md's ``print_grants``."""
    grants: dict[str, int] = {}
    for value in values:
        code, sep, copies = value.partition("=")
        if not sep or not code or not copies.isdigit():
            raise ValueError(f"{value!r}: expected CODE=N (copies, a whole number)")
        grants[code] = int(copies)
    return grants


def build_metadata(base: dict, *, doc_number=None, title=None, signer=None, urgency=None, main=(), cc=(),
                   grants=None, paper_attachments=(), secrecy=None) -> dict:
    """API.md's metadata: the file's (``base``), with each given flag replacing its field.

    A list or mapping given by flags replaces the file's whole field rather than merging into it,
    so what is sent is exactly what the command line shows. ``ValueError`` names the missing flags.
    """
    given = {"doc_number": doc_number, "title": title, "signer": signer, "urgency": urgency,
             "main_recipients": list(main) or None, "cc_recipients": list(cc) or None,
             "print_grants": grants or None, "paper_attachments": list(paper_attachments) or None,
             "secrecy": secrecy}
    metadata = {**base, **{key: value for key, value in given.items() if value is not None}}
    # Only unclassified documents travel here (the exchange refuses any other 密级), so it is the default.
    metadata.setdefault("secrecy", "none")
    missing = [flag for key, flag in REQUIRED.items() if not metadata.get(key)]
    if missing:
        raise ValueError(f"missing {', '.join(missing)} (or the field in --metadata)")
    return metadata


@contextmanager
def progress_bar(enabled: bool, label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A ``progress(sent, total)`` drawing a bar on stderr, or None when not wanted.

    stdout stays the command's JSON only, so scripts can read it while people watch the bar.
    """
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  TimeRemainingColumn(), console=Console(stderr=True)) as bar:
        task = bar.add_task(label, total=None)
        yield lambda sent, total: bar.update(task, completed=sent, total=total)


def send(gateway: Gateway, metadata: dict, body: Path, attachments: list[Path], idempotency_key: str | None,
         progress: Callable[[int, int], None] | None = None) -> dict:
    """POST the document as multipart/form-data; the created document, summarised."""
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    files = [("body", body)] + [("attachments", path) for path in attachments]
    document = gateway.upload("/api/v1/documents", {"metadata": json.dumps(metadata, ensure_ascii=False)}, files,
                              headers, progress)
    # status "awaiting_seal": two-person custody; the custodians approve manifest_sha256 before it goes out
    return {"id": document["id"], "status": document.get("status"), "doc_number": document.get("doc_number"),
            "title": document.get("title"), "seal_serial": document.get("seal_serial"),
            "manifest_sha256": document.get("manifest_sha256"), "sent_at": document.get("sent_at"),
            "receipt_count": len(document.get("receipts") or [])}


# -- 收文 ------------------------------------------------------------------------------------

def inbox_table(page: dict):
    """The inbox page as a rich table for people (the JSON has every field)."""
    from rich.table import Table

    table = Table(title="收文 inbox", caption=f"next cursor: {page['next_cursor']}" if page.get("next_cursor")
                  else None)
    for column in ("document id", "doc number", "title", "from", "urgency", "state", "delivered", "due"):
        table.add_column(column, overflow="fold")  # an id cut short could not be copied
    for item in page.get("items", []):
        document = item.get("document") or {}
        due = _when(item.get("due_at")) + (" (overdue)" if item.get("overdue") else "")
        table.add_row(document.get("id", ""), document.get("doc_number", ""), document.get("title", ""),
                      document.get("issuer_code", ""), document.get("urgency", ""), item.get("state", ""),
                      _when(item.get("delivered_at")), due)
    return table


def _when(value: str | None) -> str:
    """An RFC 3339 time shortened for a table cell, 2026-12-01T16:59:23+00:00 → 12-01 16:59 (JSON has it whole)."""
    return value[5:16].replace("T", " ") if value else ""


def outbox_table(page: dict):
    """The outbox page as a rich table: each sent document and its receipts counted by state."""
    from rich.table import Table

    table = Table(title="发文 outbox", caption=f"next cursor: {page['next_cursor']}" if page.get("next_cursor")
                  else None)
    for column in ("document id", "doc number", "title", "urgency", "status", "sent", "receipts"):
        table.add_column(column, overflow="fold")
    for item in page.get("items", []):
        counts = ", ".join(f"{state} {n}" for state, n in sorted((item.get("receipt_counts") or {}).items()))
        table.add_row(item.get("id", ""), item.get("doc_number", ""), item.get("title", ""), item.get("urgency", ""),
                      item.get("status", ""), _when(item.get("sent_at")), counts)
    return table


def receipts_table(document_id: str, answer: dict):
    """The sender's receipt matrix (recipients × state × times) as a rich table."""
    from rich.table import Table

    table = Table(title=f"receipts of {document_id}")
    for column in ("unit", "role", "state", "delivered", "read", "signed", "registered", "returned", "due"):
        table.add_column(column, overflow="fold")
    for row in answer.get("items", []):
        due = _when(row.get("due_at")) + (" (overdue)" if row.get("overdue") else "")
        returned = _when(row.get("returned_at")) + (f" {row['return_reason']}" if row.get("return_reason") else "")
        registered = _when(row.get("registered_at")) + (f" {row['registration_number']}"
                                                        if row.get("registration_number") else "")
        table.add_row(row.get("unit_code", ""), row.get("role", ""), row.get("state", ""),
                      _when(row.get("delivered_at")), _when(row.get("first_read_at")), _when(row.get("signed_at")),
                      registered, returned, due)
    return table


def _unique(name: str, taken: set[str], prefix: str) -> str:
    # casefold: two names differing only in case are one file on Windows and macOS
    if name.casefold() in taken:
        name = safe_name(f"{prefix}-{name}", prefix)
    while name.casefold() in taken:
        name = "_" + name
    taken.add(name.casefold())
    return name


def _save(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    # safe_name already removed every separator; this is the last word, whatever the name became.
    if path.resolve().parent != folder.resolve():
        raise ValueError(f"refusing to write {name!r} outside {folder}")
    path.write_bytes(data)
    return path


def _listed(manifest: bytes) -> list:
    """The attachment names the manifest lists (None for an entry without one), sorted."""
    listed = json.loads(manifest).get("attachments") or []
    return sorted((entry.get("name") if isinstance(entry, dict) else None for entry in listed), key=str)


def fetch(gateway: Gateway, document_id: str, folder: Path | None, ca: bytes | None) -> dict:
    """Download a document's manifest, seal, body and attachments (and the CA unless given) into
    ``folder`` (default ``./<id>/``), then verify them offline.

    The result is :func:`offline.verify_offline`'s with the saved files, or ``PARTS_MISMATCH``
    when the seal is good but the attachments saved are not those the sealed manifest lists.
    """
    document = gateway.request("GET", f"/api/v1/documents/{segment(document_id)}")
    base = f"/api/v1/documents/{segment(document['id'])}"
    folder = folder if folder is not None else Path.cwd() / safe_name(document["id"], "document")
    folder.mkdir(parents=True, exist_ok=True)
    taken = {MANIFEST.casefold(), SIGNATURE.casefold(), CA.casefold()}

    # The manifest first: a recipient's first download is its receipt time (签收 counts from it).
    manifest, _ = gateway.download(f"{base}/manifest")
    signature, _ = gateway.download(f"{base}/signature.p7s")
    files = {"manifest": str(_save(folder, MANIFEST, manifest)),
             "signature": str(_save(folder, SIGNATURE, signature))}
    body, _ = gateway.download(f"{base}/body")
    body_name = _unique(safe_name((document.get("body") or {}).get("name"), "body"), taken, "body")
    files["body"] = str(_save(folder, body_name, body))
    attachments: dict[str, bytes] = {}
    files["attachments"] = []
    for entry in sorted(document.get("attachments") or [], key=lambda a: a["n"]):
        data, _ = gateway.download(f"{base}/attachments/{entry['n']}")
        # Checked under the name the manifest gives; saved under one safe on this system.
        attachments[entry["name"]] = data
        name = _unique(safe_name(entry["name"], f"attachment-{entry['n']}"), taken, f"attachment-{entry['n']}")
        files["attachments"].append(str(_save(folder, name, data)))
    if ca is None:
        ca, _ = gateway.download("/api/v1/seals/ca.pem")
        files["ca"] = str(_save(folder, CA, ca))

    result = offline.verify_offline(manifest, signature, ca, unit_code=document.get("issuer_code"), body=body,
                                    attachments=attachments or None)
    # verify_offline checks the parts it is given; an attachment the gateway left out would go unnoticed.
    if result["valid"] and _listed(manifest) != sorted(attachments, key=str):
        result = {**result, "valid": False, "reason": PARTS_MISMATCH}
    return {"document_id": document["id"], "doc_number": document.get("doc_number"), "directory": str(folder),
            "files": files, **result}
