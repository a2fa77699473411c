"""``gongwen ledger verify``: recompute the whole ledger from its entries and check it against the
archive's signed tree head, naming the first entry that was altered, removed or moved.

What is trusted: the tree head's signature (under the archive's published key) and nothing the
archive computed since. Each entry's leaf bytes must carry its own position and every column shown
beside it; the leaves' root must be the signed root. When it is not, consistency proofs between the
signed tree and ever shorter prefixes (recomputed here) find the first prefix that no longer agrees:
its last entry is the one changed. Only ``hashlib`` (through ``merkle``) and the signature check."""
import base64
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gongwen_contracts.archive import merkle

COLUMNS = ("index", "source", "event_id", "event_type", "occurred_at", "document_id", "units")


@dataclass
class Finding:
    index: int
    problem: str


@dataclass
class Verdict:
    tree_size: int
    checked: int
    findings: list[Finding] = field(default_factory=list)
    unsigned_tail: int = 0  # entries appended after the signed head: listed, not yet provable

    @property
    def ok(self) -> bool:
        return not self.findings

    def summary(self) -> str:
        if self.ok:
            tail = f"; {self.unsigned_tail} newer entries await the next signed head" if self.unsigned_tail else ""
            return f"ledger verified: {self.checked} entries match the signed tree head of size {self.tree_size}{tail}"
        first = self.findings[0]
        return f"ledger NOT verified: entry {first.index} {first.problem}"


def signature_holds(head: dict, keys: list[dict]) -> bool:
    for key in keys:
        if key.get("key_id") != head.get("key_id"):
            continue
        public_key = serialization.load_pem_public_key(key["public_key_pem"].encode())
        try:
            signed = merkle.tree_head_input(head["timestamp"], head["tree_size"], base64.b64decode(head["root_hash"]))
            public_key.verify(base64.b64decode(head["signature"]), signed, ec.ECDSA(hashes.SHA256()))
            return True
        except (InvalidSignature, ValueError):
            return False
    return False


def _same_time(a, b) -> bool:
    try:
        return datetime.fromisoformat(a) == datetime.fromisoformat(b)
    except (TypeError, ValueError):
        return False


def _entry_problem(position: int, entry: dict) -> str | None:
    """What is wrong with one entry on its own: its leaf bytes against its place and its columns."""
    try:
        leaf = json.loads(base64.b64decode(entry["leaf_input"]))
    except (KeyError, ValueError, TypeError):
        return "has leaf bytes that are not the canonical JSON of an event"
    if leaf.get("index") != position:
        return f"was moved: its leaf belongs at position {leaf.get('index')}"
    for column in COLUMNS:
        matches = _same_time(entry.get(column), leaf.get(column)) if column == "occurred_at" \
            else entry.get(column) == leaf.get(column)
        if not matches:
            return f"was altered: its {column} is {entry.get(column)!r} but its leaf says {leaf.get(column)!r}"
    return None


def verify(head: dict, keys: list[dict], entries: Iterable[dict],
           consistency: Callable[[int, int], list[bytes]]) -> Verdict:
    """``entries``: the ledger in order of index (at least the head's ``tree_size`` of them);
    ``consistency(first, second)``: the archive's consistency proof (raw hashes)."""
    size = head["tree_size"]
    verdict = Verdict(tree_size=size, checked=0)
    if not signature_holds(head, keys):
        verdict.findings.append(Finding(-1, "— the tree head's signature does not hold under the archive's key"))
        return verdict
    nodes, position = merkle.MemoryNodes(), 0
    for entry in entries:
        index = entry.get("index")
        if index != position:
            # A gap in the indexes: the row at ``position`` is gone (or renumbered).
            verdict.findings.append(Finding(position, f"is missing (the next entry is {index})"))
            return verdict
        if position >= size:
            verdict.unsigned_tail += 1
            position += 1
            continue
        if problem := _entry_problem(position, entry):
            verdict.findings.append(Finding(position, problem))
            return verdict
        merkle.append(nodes, merkle.leaf_hash(base64.b64decode(entry["leaf_input"])))
        position += 1
        verdict.checked += 1
    if position < size:
        verdict.findings.append(Finding(position, f"is missing (the ledger ends at {position}, the head says {size})"))
        return verdict
    signed_root = base64.b64decode(head["root_hash"])
    if merkle.root(nodes, size) == signed_root:
        return verdict
    # Some leaf was rewritten consistently with its columns: find the shortest prefix that no longer
    # agrees with the signed tree (a prefix agrees iff it has no altered entry: monotone, so bisect).
    low, high = 1, size  # the prefix of ``high`` entries disagrees
    while low < high:
        middle = (low + high) // 2
        if merkle.verify_consistency(middle, size, merkle.root(nodes, middle), signed_root,
                                     consistency(middle, size)):
            low = middle + 1
        else:
            high = middle
    verdict.findings.append(Finding(high - 1, "was altered: its leaf is not the one the signed tree holds"))
    return verdict
