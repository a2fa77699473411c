"""``gongwen ledger verify|proof``: check the archive's ledger from outside, trusting only the
signed tree head (``ledger_audit``)."""
import base64
import json

import typer

from . import ledger_audit
from .gateway import GatewayError

app = typer.Typer(help="The archive's tamper-evident ledger (账本): verify it, prove an entry.",
                  no_args_is_help=True)
PAGE = 1000


def _session(profile):
    from .main import _fail, _gateway  # the CLI's one way to reach the gateway with a kept token
    return _gateway(profile), _fail


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


@app.command("verify")
def verify(profile: str = typer.Option("default", help="whose kept token to use (the operator's)")):
    """Recompute every entry and the tree against the signed head; name the first altered, removed
    or moved entry. Exit 0 when it holds, 1 when it does not."""
    gateway, fail = _session(profile)
    try:
        verdict = verify_through(gateway)
    except GatewayError as refused:
        fail(refused)
    typer.echo(verdict.summary())
    raise typer.Exit(0 if verdict.ok else 1)


@app.command("proof")
def proof(index: int = typer.Argument(..., help="the entry's index"),
          profile: str = typer.Option("default", help="whose kept token to use")):
    """An entry with its inclusion proof in the latest signed tree, checked here with hashlib."""
    gateway, fail = _session(profile)
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
    typer.echo(json.dumps({"entry": entry, "tree_head": head, "audit_path": path["audit_path"], "included": holds},
                          ensure_ascii=False, indent=2))
    raise typer.Exit(0 if holds else 1)
