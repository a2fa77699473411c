"""The archive ledger's Merkle tree, part of its contract (the CLI and any auditor verify with it),
hashed as RFC 6962 / RFC 9162 say (Certificate Transparency's log), so that any CT verifier
checks our proofs: leaf = SHA-256(0x00 ‖ leaf_input), node = SHA-256(0x01 ‖ left ‖ right), and a
tree of n leaves splits at the largest power of two smaller than n.

Hashes of *perfect* subtrees (2**level leaves starting at a multiple of 2**level) never change once
their last leaf is in, so the log stores them as it grows (:class:`NodeStore`): any root or proof
is then a fold of O(log n) stored hashes, and a tree of a million entries needs no rehashing.

The verifiers (:func:`verify_inclusion`, :func:`verify_consistency`, :func:`root_from_leaf_hashes`)
use only ``hashlib``: an auditor can copy them out and check a package decades from now."""
import hashlib
from typing import Protocol

EMPTY_ROOT = hashlib.sha256(b"").digest()


def tree_head_input(timestamp_ms: int, tree_size: int, root_hash: bytes) -> bytes:
    """What a signed tree head signs (RFC 6962 §3.5 ``TreeHeadSignature``): version v1 (0),
    signature_type tree_hash (1), the timestamp (ms) and the size as uint64, the 32-byte root."""
    return bytes([0, 1]) + timestamp_ms.to_bytes(8, "big") + tree_size.to_bytes(8, "big") + root_hash


def leaf_hash(leaf_input: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf_input).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two smaller than ``n`` (n ≥ 2): RFC 6962's k."""
    return 1 << ((n - 1).bit_length() - 1)


class NodeStore(Protocol):
    def node(self, level: int, index: int) -> bytes:
        """The hash of the perfect subtree of 2**level leaves starting at leaf index * 2**level."""


class MemoryNodes:
    """Perfect-subtree hashes kept in lists, one per level; what :class:`Appender` produces."""

    def __init__(self):
        self.levels: list[list[bytes]] = [[]]

    def node(self, level, index):
        return self.levels[level][index]

    def size(self) -> int:
        return len(self.levels[0])


def completed_nodes(size: int, leaf: bytes, node) -> list[tuple[int, int, bytes]]:
    """The perfect subtrees completed by appending the leaf hash ``leaf`` as leaf number ``size``
    (0-based): ``[(level, index, hash)]``, level 0 first. ``node(level, index)`` reads the store."""
    made = [(0, size, leaf)]
    level, index, current = 0, size, leaf
    while index % 2 == 1:
        current = node_hash(node(level, index - 1), current)
        level, index = level + 1, index // 2
        made.append((level, index, current))
    return made


def append(nodes: MemoryNodes, leaf: bytes) -> None:
    for level, _position, value in completed_nodes(nodes.size(), leaf, nodes.node):
        if len(nodes.levels) <= level:
            nodes.levels.append([])
        nodes.levels[level].append(value)


def subtree_hash(nodes: NodeStore, start: int, end: int) -> bytes:
    """MTH(D[start:end]) for a range the RFC's recursion produces (``start`` a multiple of a power
    of two at least ``end - start`` rounded down)."""
    n = end - start
    if n == 0:
        return EMPTY_ROOT
    if n & (n - 1) == 0 and start % n == 0:
        return nodes.node(n.bit_length() - 1, start // n)
    k = split_point(n)
    return node_hash(subtree_hash(nodes, start, start + k), subtree_hash(nodes, start + k, end))


def root(nodes: NodeStore, size: int) -> bytes:
    return subtree_hash(nodes, 0, size)


def inclusion_proof(nodes: NodeStore, index: int, size: int) -> list[bytes]:
    """RFC 6962 §2.1.1 PATH(index, D[0:size]), leaf side first."""
    if not 0 <= index < size:
        raise ValueError("index outside the tree")
    proof, start, end = [], 0, size
    while end - start > 1:
        k = split_point(end - start)
        if index < start + k:
            proof.append(subtree_hash(nodes, start + k, end))
            end = start + k
        else:
            proof.append(subtree_hash(nodes, start, start + k))
            start += k
    return proof[::-1]


def consistency_proof(nodes: NodeStore, first: int, second: int) -> list[bytes]:
    """RFC 6962 §2.1.2 PROOF(first, D[0:second])."""
    if not 0 < first <= second:
        raise ValueError("need 0 < first <= second")
    proof: list[bytes] = []
    start, end, whole = 0, second, True
    m = first
    while True:
        n = end - start
        if m == n:
            if not whole:
                proof.append(subtree_hash(nodes, start, end))
            break
        k = split_point(n)
        if m <= k:
            proof.append(subtree_hash(nodes, start + k, end))
            end = start + k
        else:
            proof.append(subtree_hash(nodes, start, start + k))
            start, m, whole = start + k, m - k, False
    return proof[::-1]


# --- verification: hashlib only -------------------------------------------------------------

def root_from_leaf_hashes(leaves: list[bytes]) -> bytes:
    """MTH over all the leaf hashes, recomputed from nothing (what ``ledger verify`` does)."""
    if not leaves:
        return EMPTY_ROOT
    level = list(leaves)
    # Pairing left to right and carrying an odd last node up unchanged is RFC 6962's split.
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def verify_inclusion(leaf: bytes, index: int, size: int, proof: list[bytes], expected_root: bytes) -> bool:
    """RFC 9162 §2.1.3.2."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            r = node_hash(p, r)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == expected_root


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes,
                       proof: list[bytes]) -> bool:
    """RFC 9162 §2.1.4.2."""
    if not 0 < first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first & (first - 1) == 0:
        proof = [first_root, *proof]
    if not proof:
        return False
    fn, sn = first - 1, second - 1
    while fn % 2 == 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == first_root and sr == second_root
