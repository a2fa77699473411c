"""The ledger (账本): every event of every service, appended once, in the order the archive took
it, as the leaves of an RFC 6962 Merkle tree; signed tree heads; inclusion and consistency proofs.

A leaf's input is the canonical JSON (RFC 8785, as for manifests) of the event *with its own index*
and every column shown beside it, so an entry moved to another position or edited no longer
matches its leaf, and a verifier needs nothing but the rows and a signed head."""
import base64
import hashlib
from datetime import UTC, datetime

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from gongwen_common.audit import Caller
from gongwen_common.db import insert_new
from gongwen_common.errors import Forbidden, NotFound, ValidationFailed
from gongwen_common.keywrap import load_key, rewrap_key, store_key
from gongwen_common.manifest import canonical_bytes
from gongwen_contracts.archive import merkle

from ..models import LedgerEntry, LedgerKey, LedgerNode, LedgerState, TreeHead

STATE = "main"
# Where an event's data names the units it concerns (registry, identity, seal, exchange, notify).
UNIT_KEYS = ("unit_code", "issuer_code", "successor_code", "into_code", "sender_code", "recipient_code")
UNIT_LIST_KEYS = ("unit_codes", "from_codes", "recipient_codes")


def concerned_units(data) -> list[str]:
    """Every unit code the event names, anywhere in its data: who may read its entry."""
    found, pending = set(), [data]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if key in UNIT_KEYS and isinstance(item, str):
                    found.add(item)
                elif key in UNIT_LIST_KEYS and isinstance(item, list):
                    found.update(code for code in item if isinstance(code, str))
                elif key == "unit" and isinstance(item, dict) and isinstance(item.get("code"), str):
                    found.add(item["code"])
                pending.append(item)
        elif isinstance(value, list):
            pending.extend(value)
    return sorted(found)


def document_of(source, data) -> str | None:
    if not isinstance(data, dict):
        return None
    document_id = data.get("document_id") or (data.get("id") if source == "exchange" else None)
    return document_id if isinstance(document_id, str) else None


class StoredNodes:
    """:class:`merkle.NodeStore` over ``ledger_nodes``, remembering what it read in this transaction."""

    def __init__(self, session):
        self.session, self.cache = session, {}

    def node(self, level, index):
        key = (level, index)
        if key not in self.cache:
            self.cache[key] = self.session.scalar(
                select(LedgerNode.hash).where(LedgerNode.level == level, LedgerNode.position == index))
            if self.cache[key] is None:
                raise LookupError(f"ledger node {key} is missing")
        return self.cache[key]


def _state(session) -> LedgerState:
    """The size row, locked: appends and tree heads from any number of workers and instances take
    turns here."""
    state = session.get(LedgerState, STATE, with_for_update=True)
    if state is None:
        insert_new(session, LedgerState, id=STATE, size=0)
        state = session.get(LedgerState, STATE, with_for_update=True)
    return state


def size(session) -> int:
    state = session.get(LedgerState, STATE)
    return state.size if state else 0


def append(session, source: str, event, now: datetime) -> LedgerEntry:
    """Append ``event`` (a :class:`gongwen_common.entrypoints.Event`) from ``source``; once per event."""
    existing = session.scalar(select(LedgerEntry).where(LedgerEntry.event_id == event.event_id))
    if existing is not None:
        return existing
    state = _state(session)
    seq = state.size
    entry = LedgerEntry(seq=seq, event_id=event.event_id, source=source, event_type=event.event_type,
                        occurred_at=event.happened_at(now).astimezone(UTC), document_id=document_of(source, event.data),
                        units=concerned_units(event.data), appended_at=now)
    # Every column a reader sees is in the leaf too, so no column can be edited unnoticed.
    entry.leaf_input = canonical_bytes({**columns_of(entry), "data": event.data})
    nodes = StoredNodes(session)
    for level, position, value in merkle.completed_nodes(seq, merkle.leaf_hash(entry.leaf_input), nodes.node):
        session.add(LedgerNode(level=level, position=position, hash=value))
    session.add(entry)
    state.size = seq + 1
    return entry


# --- signed tree heads --------------------------------------------------------------------------

def _key_id(public_key) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def signing_key(session, settings, now):
    """The archive's key, made at first use; two instances racing keep the first one stored."""
    row = session.scalar(select(LedgerKey).order_by(LedgerKey.created_at).limit(1))
    if row is None:
        private_key = ec.generate_private_key(ec.SECP256R1())
        public_pem = private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        row = LedgerKey(id=_key_id(private_key.public_key()), public_key_pem=public_pem, created_at=now)
        store_key(row, private_key, settings.kek, b"ledger-key:" + row.id.encode())
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            row = session.scalar(select(LedgerKey).order_by(LedgerKey.created_at).limit(1))
    return row, load_key(row, settings.kek, b"ledger-key:" + row.id.encode())


def rewrap_all(session, old, new) -> int:
    """KEK rotation (``python -m gongwen_local rekey archive``): every tree-head signing key wrapped
    again under ``new``; how many were."""
    return sum(rewrap_key(row, old, new, b"ledger-key:" + row.id.encode())
               for row in session.scalars(select(LedgerKey).with_for_update()))


def publish_tree_head(session, settings, now) -> dict | None:
    """Sign the current tree if it grew since the last head; the head, or ``None`` for an empty ledger.

    Under the size row's lock (held to the end of the transaction), so with several instances the
    head is of a size no append is between, and each signer sees the heads signed before it."""
    tree_size = _state(session).size
    latest = latest_head(session)
    if tree_size == 0 or (latest is not None and latest.tree_size >= tree_size):
        return head_view(latest) if latest else None
    root_hash = merkle.root(StoredNodes(session), tree_size)
    # A larger tree never carries an earlier time, even when instances' clocks differ a little.
    timestamp = max(int(now.timestamp() * 1000), latest.timestamp if latest else 0)
    row, private_key = signing_key(session, settings, now)
    signature = private_key.sign(merkle.tree_head_input(timestamp, tree_size, root_hash), ec.ECDSA(hashes.SHA256()))
    insert_new(session, TreeHead, tree_size=tree_size, root_hash=root_hash, timestamp=timestamp,
               signature=signature, key_id=row.id)
    return head_view(session.get(TreeHead, tree_size))


def publish_when_due(session, settings, now) -> dict | None:
    """The schedule's head: signed once the last is ``tree_head_seconds`` old. The age is judged
    under the size row's lock, so of several instances' timers in one tick only the first signs;
    the others find its head and sign nothing. The new head, or ``None``."""
    _state(session)
    latest = latest_head(session)
    if latest is not None and now.timestamp() * 1000 - latest.timestamp < settings.tree_head_seconds * 1000:
        return None
    head = publish_tree_head(session, settings, now)
    return head if head is not None and (latest is None or head["tree_size"] > latest.tree_size) else None


def latest_head(session) -> TreeHead | None:
    return session.scalar(select(TreeHead).order_by(TreeHead.tree_size.desc()).limit(1))


def head_view(head: TreeHead) -> dict:
    return {"tree_size": head.tree_size, "root_hash": _b64(head.root_hash), "timestamp": head.timestamp,
            "signature": _b64(head.signature), "key_id": head.key_id,
            "signed_at": datetime.fromtimestamp(head.timestamp / 1000, UTC).isoformat()}


def tree_head(session) -> dict:
    head = latest_head(session)
    if head is None:
        raise NotFound(message="No tree head has been signed yet.")
    return head_view(head)


def keys(session) -> dict:
    return {"keys": [{"key_id": row.id, "algorithm": "ecdsa-p256-sha256", "public_key_pem": row.public_key_pem,
                      "created_at": row.created_at.isoformat()}
                     for row in session.scalars(select(LedgerKey).order_by(LedgerKey.created_at))]}


# --- reading entries and proofs -------------------------------------------------------------------

def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def columns_of(entry: LedgerEntry) -> dict:
    return {"index": entry.seq, "source": entry.source, "event_id": entry.event_id, "event_type": entry.event_type,
            "occurred_at": entry.occurred_at.isoformat(), "document_id": entry.document_id, "units": entry.units}


def entry_view(entry: LedgerEntry) -> dict:
    return {**columns_of(entry), "leaf_input": _b64(entry.leaf_input)}


def _may_read(caller: Caller, entry: LedgerEntry) -> bool:
    return caller.is_operator or (caller.unit_code is not None and caller.unit_code in entry.units)


def _index(value, name) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationFailed({name: ["must be a whole number, 0 or more"]})
    return value


def entry(session, index, actor) -> dict:
    found = session.get(LedgerEntry, _index(index, "index"))
    # Another unit's entry is answered as absent, not forbidden: its existence is not theirs to learn.
    if found is None or not _may_read(Caller.of(actor), found):
        raise NotFound(message=f"No ledger entry {index} for you.")
    return entry_view(found)


def entries(session, start, limit, actor) -> dict:
    """Consecutive entries from ``start`` (the operator's, for ``ledger verify``)."""
    if not Caller.of(actor).is_operator:
        raise Forbidden(message="Only the operator reads the whole ledger.")
    start, limit = _index(start, "start"), max(1, min(_index(limit, "limit"), 1000))
    rows = session.scalars(select(LedgerEntry).where(LedgerEntry.seq >= start)
                           .order_by(LedgerEntry.seq).limit(limit))
    items = [entry_view(row) for row in rows]
    return {"items": items, "tree_size": size(session)}


def _within(session, tree_size) -> int:
    tree_size = _index(tree_size, "tree_size")
    if not 0 < tree_size <= size(session):
        raise NotFound(message=f"The ledger has no tree of size {tree_size}.")
    return tree_size


def inclusion_proof(session, index, tree_size) -> dict:
    tree_size = _within(session, tree_size)
    index = _index(index, "index")
    if index >= tree_size:  # no such proof: the entry is not in that tree
        raise NotFound(message=f"Entry {index} is not in the tree of size {tree_size}.")
    proof = merkle.inclusion_proof(StoredNodes(session), index, tree_size)
    return {"index": index, "tree_size": tree_size, "audit_path": [_b64(h) for h in proof]}


def consistency_proof(session, first, second) -> dict:
    second = _within(session, second)
    first = _index(first, "first")
    if not 0 < first <= second:
        raise NotFound(message=f"No consistency proof from size {first} to size {second}.")
    proof = merkle.consistency_proof(StoredNodes(session), first, second)
    return {"first": first, "second": second, "proof": [_b64(h) for h in proof]}
