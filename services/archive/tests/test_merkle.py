"""The ledger's tree agrees with RFC 6962's published vectors (transparency-dev/merkle's
``testonly`` constants, used as data) and with a from-scratch recomputation at every size."""
import hashlib

import pytest

from gongwen_contracts.archive import merkle

LEAVES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                     "606162636465666768696a6b6c6d6e6f")]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
INCLUSION = {
    (0, 8): ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
             "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
    (5, 8): ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
}
CONSISTENCY = {
    (2, 8): ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
    (6, 8): ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
    (2, 5): ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"],
}


def tree_of(leaf_inputs):
    nodes = merkle.MemoryNodes()
    for data in leaf_inputs:
        merkle.append(nodes, merkle.leaf_hash(data))
    return nodes


def test_the_roots_are_rfc_6962s_at_every_size():
    nodes = tree_of(LEAVES)
    for size, expected in enumerate(ROOTS):
        assert merkle.root(nodes, size).hex() == expected
        assert merkle.root_from_leaf_hashes([merkle.leaf_hash(x) for x in LEAVES[:size]]).hex() == expected


def test_inclusion_and_consistency_proofs_are_the_published_ones():
    nodes = tree_of(LEAVES)
    for (index, size), expected in INCLUSION.items():
        assert [p.hex() for p in merkle.inclusion_proof(nodes, index, size)] == expected
    for (first, second), expected in CONSISTENCY.items():
        assert [p.hex() for p in merkle.consistency_proof(nodes, first, second)] == expected


def test_every_proof_verifies_and_a_tampered_one_does_not():
    inputs = [hashlib.sha256(str(i).encode()).digest()[: i % 40] for i in range(70)]
    nodes = tree_of(inputs)
    leaves = [merkle.leaf_hash(x) for x in inputs]
    for size in range(1, len(inputs) + 1):
        root = merkle.root(nodes, size)
        assert root == merkle.root_from_leaf_hashes(leaves[:size])
        for index in range(size):
            proof = merkle.inclusion_proof(nodes, index, size)
            assert merkle.verify_inclusion(leaves[index], index, size, proof, root)
            assert not merkle.verify_inclusion(merkle.leaf_hash(b"forged"), index, size, proof, root)
            if size > 1:
                assert not merkle.verify_inclusion(leaves[index], index ^ 1 if index ^ 1 < size else index - 1,
                                                   size, proof, root)
            if proof:
                forged = [bytes(32), *proof[1:]]
                assert not merkle.verify_inclusion(leaves[index], index, size, forged, root)
        for first in range(1, size + 1):
            proof = merkle.consistency_proof(nodes, first, size)
            first_root = merkle.root(nodes, first)
            assert merkle.verify_consistency(first, size, first_root, root, proof)
            assert not merkle.verify_consistency(first, size, bytes(32), root, proof)


@pytest.mark.parametrize("index,size", [(-1, 3), (3, 3)])
def test_a_proof_for_a_leaf_outside_the_tree_is_refused(index, size):
    with pytest.raises(ValueError):
        merkle.inclusion_proof(tree_of(LEAVES), index, size)
