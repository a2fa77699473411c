"""``gongwen ledger verify|proof`` and ``gongwen archive get``: check the archive's ledger from
outside, trusting only the signed tree head (``ledger_audit``), and fetch a document's package."""
import base64
import json
from pathlib import Path

import typer

from . import ledger_audit
from .common import PROFILE, echo_json, fail, gateway_for, segment
from .gateway import GatewayError

ledger = typer.Typer(help="The archive's tamper-evident ledger (账本): verify all of it, prove one entry.",
                     no_args_is_help=True)
archive = typer.Typer(help="Archival packages (归档包): a document's zipped BagIt bag.", no_args_is_help=True)
PAGE = 1000
INVALID = 1


def entries_of(gateway, start=0):
    """Every entry from ``start``, page by page (the operator's listing)."""
    while True:
        page = gateway.request("GET", f"/api/v1/ledger/entries?start={start}&limit={PAGE}")
        yield from page["items"]
        if len(page["items"]) < PAGE:
            return
        start += PAGE


def consistency_of(gateway):
    def consistency(first, second):
        proof = gateway.request("GET", f"/api/v1/ledger/consistency?first={first}&second={second}")["proof"]
        return [base64.b64decode(h) for h in proof]
    return consistency


def verify_through(gateway) -> ledger_audit.Verdict:
    head = gateway.request("GET", "/api/v1/ledger/tree-head")
    keys = gateway.request("GET", "/api/v1/ledger/keys")["keys"]
    return ledger_audit.verify(head, keys, entries_of(gateway), consistency_of(gateway))


@ledger.command("verify")
def verify(profile: str = PROFILE):
    """Recompute every entry and the tree against the signed head (the operator); name the first
    altered, removed or moved entry. Exit 0 when it holds, 1 when it does not."""
    try:
        verdict = verify_through(gateway_for(profile))
    except GatewayError as refused:
        fail(refused)
    typer.echo(verdict.summary())
    raise typer.Exit(0 if verdict.ok else INVALID)


@ledger.command("proof")
def proof(index: int = typer.Argument(..., min=0, help="the entry's index"), profile: str = PROFILE):
    """An entry with its inclusion proof in the latest signed tree, checked here with hashlib."""
    gateway = gateway_for(profile)
    try:
        head = gateway.request("GET", "/api/v1/ledger/tree-head")
        entry = gateway.request("GET", f"/api/v1/ledger/entries/{index}")
        path = gateway.request("GET", f"/api/v1/ledger/proof?index={index}&tree_size={head['tree_size']}")
    except GatewayError as refused:
        fail(refused)
    leaf = ledger_audit.merkle.leaf_hash(base64.b64decode(entry["leaf_input"]))
    holds = ledger_audit.merkle.verify_inclusion(leaf, index, head["tree_size"],
                                                 [base64.b64decode(h) for h in path["audit_path"]],
                                                 base64.b64decode(head["root_hash"]))
    echo_json({"entry": entry, "tree_head": head, "audit_path": path["audit_path"], "included": holds})
    raise typer.Exit(0 if holds else INVALID)


@archive.command("get")
def get_package(document_id: str = typer.Argument(..., metavar="DOCUMENT_ID"),
                out: Path = typer.Option(None, help="where to write the ZIP (default: gongwen-DOCUMENT_ID.zip)"),
                profile: str = PROFILE):
    """Download a document's archival package; its data/README.md says how to check it with openssl."""
    try:
        data, _ = gateway_for(profile).download(f"/api/v1/documents/{segment(document_id)}/archive")
    except GatewayError as refused:
        fail(refused)
    target = out or Path(f"gongwen-{document_id}.zip")
    target.write_bytes(data)
    typer.echo(json.dumps({"written": str(target), "bytes": len(data)}, ensure_ascii=False))


def register(app: typer.Typer) -> None:
    app.add_typer(ledger, name="ledger")
    app.add_typer(archive, name="archive")
