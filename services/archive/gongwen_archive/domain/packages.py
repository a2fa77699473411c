"""The archival package (归档包): one document and every step it took, as a zipped BagIt bag
(RFC 8493, the Library of Congress's preservation format) that stands on its own for decades.

Inside ``gongwen-<document id>/``: ``bagit.txt``, ``bag-info.txt``, ``manifest-sha256.txt``,
``tagmanifest-sha256.txt`` and ``data/`` with the sealed manifest and its ``signature.p7s``, the
body and attachments, the CA and seal certificates, the receipt matrix, the notification
evidence, the document's ledger entries with inclusion proofs in a signed tree head (as files a
shell can check), metadata after DA/T 46 and GB/T 9704, and a README whose commands check all of it
with ``openssl`` and ``sha256sum``.

The same inputs give the same bytes: entries sorted, one fixed timestamp (the document's sending
time), fixed permissions, fixed compression. :func:`check` is the four-property check of archival
practice (真实性、完整性、可用性、安全性) run when a package is taken in."""
import base64
import hashlib
import io
import json
import posixpath
import re
import zipfile
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509

from gongwen_common import manifest as manifests
from gongwen_common import sealed
from gongwen_common.filenames import safe_filename

BAGIT_VERSION = "1.0"
MAX_MEMBERS = 10_000
MAX_UNPACKED = 1 << 30

_README = """Gongwen archival package (公文归档包) — {title}
{doc_number} · sent by {issuer_code} at {sent_at}

This folder is a BagIt bag (RFC 8493). Everything below is checked with openssl and sha256sum
alone, from this folder (the one holding bagit.txt), in a POSIX shell. It stops at the first check
that fails, with a non-zero status; each part that holds prints OK.

```sh
set -e
# 1. Integrity (完整性): every file is the one the bag lists, and so are the lists.
sha256sum -c --quiet manifest-sha256.txt
sha256sum -c --quiet tagmanifest-sha256.txt
echo "bag: OK"
# 2. Authenticity (真实性): the seal (电子印章) on the manifest, chained to the operator's CA.
openssl cms -verify -binary -inform DER -in data/document/signature.p7s \\
  -content data/document/manifest.json -CAfile data/certificates/ca.pem -out /dev/null
echo "seal: OK"
# 3. The body and attachments are the ones the sealed manifest names (their SHA-256 is in it).
{part_checks}
# 4. The ledger (账本): the archive's signed tree head, and each entry's inclusion proof in it.
openssl dgst -sha256 -verify data/ledger/archive-key.pem -signature data/ledger/tree-head.sig \\
  data/ledger/tree-head.tbs
tail -c 32 data/ledger/tree-head.tbs | cmp -s - data/ledger/root.bin
echo "tree head: OK"
sh data/ledger/check-inclusion.sh
echo "ledger entries: OK"
```

What the files are:
- data/document/manifest.json — the manifest the seal signed (RFC 8785 canonical JSON);
  data/document/signature.p7s — the seal: a detached CMS SignedData (DER);
- data/document/body/, data/document/attachments/ — the document's parts, as sent;
- data/certificates/ — the operator CA and the seal's certificate;
- data/receipts.json — every recipient's receipt: delivered, read, signed (签收), registered
  (登记), returned (退回), with times and who acted (and for whom, when a proxy did);
- data/notifications.json — who was told of the document, when, how, and whether it arrived;
- data/ledger/ — the document's entries in the archive's ledger (RFC 6962 leaves: leaf.bin is
  the exact bytes hashed), each with its audit path, the signed tree head they are proven in
  (tree-head.tbs is RFC 6962's TreeHeadSignature, tree-head.sig its ECDSA signature) and the
  archive's public key;
- data/metadata.json — the record's metadata after DA/T 46-2009 (文书类电子文件元数据方案)
  and the elements of GB/T 9704-2012 (党政机关公文格式).
"""

_INCLUSION_SCRIPT = r"""#!/bin/sh
# Recompute each ledger entry's path to the signed root (RFC 9162 §2.1.3.2) with openssl alone.
set -e
cd "$(dirname "$0")"
size=$(cat tree-size.txt)
hash() { openssl dgst -sha256 -binary; }
for entry in entries/*; do
  index=$(cat "$entry/index.txt")
  { printf '\000'; cat "$entry/leaf.bin"; } | hash > "$entry/.r"
  fn=$index; sn=$((size - 1)); step=0
  while [ -f "$entry/path/$step.bin" ]; do
    [ "$sn" -eq 0 ] && { echo "entry $index: proof too long"; exit 1; }
    if [ $((fn % 2)) -eq 1 ] || [ "$fn" -eq "$sn" ]; then
      { printf '\001'; cat "$entry/path/$step.bin" "$entry/.r"; } | hash > "$entry/.n"
      if [ $((fn % 2)) -eq 0 ]; then
        while [ $((fn % 2)) -eq 0 ] && [ "$fn" -ne 0 ]; do fn=$((fn / 2)); sn=$((sn / 2)); done
      fi
    else
      { printf '\001'; cat "$entry/.r" "$entry/path/$step.bin"; } | hash > "$entry/.n"
    fi
    mv "$entry/.n" "$entry/.r"; fn=$((fn / 2)); sn=$((sn / 2)); step=$((step + 1))
  done
  if [ "$sn" -ne 0 ] || ! cmp -s "$entry/.r" root.bin; then
    rm -f "$entry/.r"; echo "entry $index: NOT in the signed tree"; exit 1
  fi
  rm -f "$entry/.r"
done
"""


@dataclass(frozen=True)
class PackageInputs:
    """What a package is made of; the same inputs always give the same bytes."""

    record: dict  # exchange's archival_record, bytes decoded
    ca_pem: str
    seal_pem: str | None
    notifications: list
    entries: list  # [{"index", "leaf_input" (bytes), "audit_path" [bytes]}]
    tree_head: dict  # head_view of the head the proofs are in
    tree_head_tbs: bytes
    archive_key_pem: str


def _json(value) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True).encode() + b"\n"


def _when(iso: str) -> tuple:
    moment = datetime.fromisoformat(iso)
    return (max(moment.year, 1980), moment.month, moment.day, moment.hour, moment.minute, moment.second // 2 * 2)


def metadata(record: dict, seal_pem: str | None) -> dict:
    """DA/T 46-2009's elements (文书类电子文件元数据) with GB/T 9704-2012's fields (公文格式要素)."""
    document, meta = record["document"], record["document"]["metadata"]
    certificate = x509.load_pem_x509_certificate(seal_pem.encode()) if seal_pem else None
    receipts = record["receipts"]
    return {
        "DA/T 46-2009": {
            "聚合层次 aggregation_level": "件 item",
            "来源 provenance": {"立档单位名称 fonds_holder": document["issuer_code"]},
            "电子文件号 electronic_record_id": document["id"],
            "内容描述 description": {
                "题名 title": document["title"], "文件编号 document_number": document["doc_number"],
                "责任者 creator": document["issuer_code"], "日期 date": document["sent_at"],
                "密级 security_classification": meta.get("secrecy"), "紧急程度 urgency": document["urgency"],
                "主送 primary_recipients": meta.get("main_recipients", []),
                "抄送 copies_to": meta.get("cc_recipients", []),
            },
            "形式特征 format": {
                "文件组合类型 composition": "正文与附件 body and attachments",
                "件数 parts": 1 + len(record["attachments"]),
                "语种 language": "zh-CN",
            },
            "存储 storage": {"格式 container": "BagIt 1.0 (RFC 8493), ZIP",
                             "计算机文件名 files": [f"data/document/body/{document['body']['name']}"]},
            "数字签名 digital_signature": {
                "签名规则 rules": "CMS SignedData (RFC 5652), detached, over the RFC 8785 manifest",
                "签名算法标识 algorithm": "ecdsa-with-SHA256",
                "证书 certificate": "data/certificates/seal.pem",
                "证书引证 certificate_reference": format(certificate.serial_number, "x") if certificate else None,
                "签名人 signer": document.get("signer"),
            },
            "业务实体 business": {
                "发文 sending": {"时间 at": document["sent_at"], "行为人 by": document.get("sent_by"),
                                "代理人 proxy": document.get("sent_by_proxy")},
                "签收 receipts": [{"单位 unit": r["unit_code"], "状态 state": r["state"],
                                   "签收时间 signed_at": r["signed_at"],
                                   "登记号 registration": r["registration_number"]} for r in receipts],
            },
        },
        "GB/T 9704-2012": {
            "密级和保密期限 classification": meta.get("secrecy"),
            "紧急程度 urgency": document["urgency"],
            "发文机关标志 issuing_authority": document["issuer_code"],
            "发文字号 document_number": document["doc_number"],
            "签发人 signatory": document.get("signer"),
            "标题 title": document["title"],
            "主送机关 primary_recipients": meta.get("main_recipients", []),
            "附件说明 attachments": [a["name"] for a in record["attachments"]] + meta.get("paper_attachments", []),
            "成文日期 date": document["sent_at"][:10],
            "印章 seal": document.get("seal_serial"),
            "抄送机关 copies_to": meta.get("cc_recipients", []),
        },
    }


def _part_name(name: str, fallback: str) -> str:
    # The README quotes paths in single quotes for the shell: none may hold one.
    return safe_filename(name, fallback).replace("/", "_").replace("\\", "_").replace("'", "_")


def payload(inputs: PackageInputs) -> dict[str, bytes]:
    """``data/…`` path → bytes."""
    record, document = inputs.record, inputs.record["document"]
    files = {
        "data/document/manifest.json": record["manifest"],
        "data/document/signature.p7s": record["signature"] or b"",
        f"data/document/body/{_part_name(document['body']['name'], 'body')}": record["body"],
        "data/certificates/ca.pem": inputs.ca_pem.encode(),
        "data/receipts.json": _json(record["receipts"]),
        "data/notifications.json": _json(inputs.notifications),
        "data/metadata.json": _json(metadata(record, inputs.seal_pem)),
        "data/ledger/tree-head.json": _json(inputs.tree_head),
        "data/ledger/tree-head.tbs": inputs.tree_head_tbs,
        "data/ledger/tree-head.sig": base64.b64decode(inputs.tree_head["signature"]),
        "data/ledger/root.bin": base64.b64decode(inputs.tree_head["root_hash"]),
        "data/ledger/tree-size.txt": f"{inputs.tree_head['tree_size']}\n".encode(),
        "data/ledger/archive-key.pem": inputs.archive_key_pem.encode(),
        "data/ledger/check-inclusion.sh": _INCLUSION_SCRIPT.encode(),
    }
    if inputs.seal_pem:
        files["data/certificates/seal.pem"] = inputs.seal_pem.encode()
    for attachment in record["attachments"]:
        files[f"data/document/attachments/{attachment['n']}-{_part_name(attachment['name'], 'attachment')}"] = \
            attachment["data"]
    for entry in inputs.entries:
        folder = f"data/ledger/entries/{entry['index']:012d}"
        files[f"{folder}/index.txt"] = f"{entry['index']}\n".encode()
        files[f"{folder}/leaf.bin"] = entry["leaf_input"]
        for step, node in enumerate(entry["audit_path"]):
            files[f"{folder}/path/{step}.bin"] = node
    files["data/README.md"] = _readme(inputs, files).encode()
    return files


def _readme(inputs: PackageInputs, files: dict) -> str:
    document = inputs.record["document"]
    checks = []
    manifest_text = "data/document/manifest.json"
    for path in sorted(files):
        if path.startswith(("data/document/body/", "data/document/attachments/")):
            key = "body_sha256" if path.startswith("data/document/body/") else "sha256"
            checks.append(f"grep -q \"\\\"{key}\\\":\\\"$(sha256sum '{path}' | cut -d' ' -f1)\\\"\" {manifest_text}\n"
                          f"echo '{posixpath.basename(path)}: OK'")
    return _README.format(title=document["title"], doc_number=document["doc_number"],
                          issuer_code=document["issuer_code"], sent_at=document["sent_at"],
                          part_checks="\n".join(checks))


def _manifest_lines(files: dict[str, bytes]) -> bytes:
    return "".join(f"{hashlib.sha256(data).hexdigest()}  {path}\n" for path, data in sorted(files.items())).encode()


def build(inputs: PackageInputs) -> bytes:
    """The zipped bag: same inputs, same bytes."""
    document = inputs.record["document"]
    data = payload(inputs)
    total = sum(len(v) for v in data.values())
    tags = {
        "bagit.txt": f"BagIt-Version: {BAGIT_VERSION}\nTag-File-Character-Encoding: UTF-8\n".encode(),
        "bag-info.txt": (f"Source-Organization: {document['issuer_code']}\n"
                         f"External-Identifier: {document['id']}\n"
                         f"External-Description: {document['doc_number']} {document['title']}\n"
                         f"Bagging-Date: {document['sent_at'][:10]}\n"
                         f"Payload-Oxum: {total}.{len(data)}\n"
                         "Bag-Software-Agent: Gongwen archive\n").encode(),
        "manifest-sha256.txt": _manifest_lines(data),
    }
    tags["tagmanifest-sha256.txt"] = _manifest_lines(tags)
    root, when = f"gongwen-{document['id']}", _when(document["sent_at"])
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for path, content in sorted({**data, **tags}.items()):
            info = zipfile.ZipInfo(f"{root}/{path}", date_time=when)
            info.create_system, info.external_attr = 3, 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content, compresslevel=9)
    return out.getvalue()


# --- the four-property check ----------------------------------------------------------------------

def _read(package: bytes) -> tuple[dict[str, bytes] | None, str | None]:
    """The members under the bag's folder, or why the package cannot be opened safely."""
    try:
        with zipfile.ZipFile(io.BytesIO(package)) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_MEMBERS or sum(i.file_size for i in infos) > MAX_UNPACKED:
                return None, "too many or too large members"
            roots = {i.filename.split("/", 1)[0] for i in infos}
            if len(roots) != 1:
                return None, "not one bag folder"
            members = {}
            for info in infos:
                name = info.filename.split("/", 1)[1] if "/" in info.filename else ""
                is_link = (info.external_attr >> 16) & 0o170000 == 0o120000
                if not name or name.startswith("/") or ".." in name.split("/") or is_link:
                    return None, f"unsafe member {info.filename!r}"
                members[name] = archive.read(info)
            return members, None
    except Exception as error:  # noqa: BLE001 — untrusted bytes: whatever zipfile trips on, the package is unusable
        return None, f"not a readable ZIP: {type(error).__name__}: {error}"


def _listed(text: bytes) -> dict[str, str] | None:
    listed = {}
    for line in text.decode("utf-8", "replace").splitlines():
        match = re.fullmatch(r"([0-9a-f]{64})  (.+)", line)
        if not match:
            return None
        listed[match.group(2)] = match.group(1)
    return listed


def check(package: bytes, ca_pem: bytes, expected_sha256: str | None = None) -> dict:
    """真实性 authenticity, 完整性 integrity, 可用性 usability, 安全性 security: each ``{"ok", "detail"}``."""
    result = {name: {"ok": False, "detail": "not checked"} for name in
              ("authenticity", "integrity", "usability", "security")}
    members, problem = _read(package)
    if members is None:
        result["security"] = result["usability"] = {"ok": False, "detail": problem}
        return _verdict(result)
    result["security"] = {"ok": True, "detail": "one bag folder; no absolute, parent or link members; within size"}
    digest = hashlib.sha256(package).hexdigest()
    data = {k: v for k, v in members.items() if k.startswith("data/")}
    listed, tags = _listed(members.get("manifest-sha256.txt", b"")), _listed(members.get("tagmanifest-sha256.txt", b""))
    integrity = []
    if expected_sha256 is not None and digest != expected_sha256:
        integrity.append(f"the package's SHA-256 {digest} is not the one recorded ({expected_sha256})")
    if listed is None or set(listed) != set(data) or any(hashlib.sha256(data[p]).hexdigest() != h
                                                          for p, h in listed.items()):
        integrity.append("the payload is not what manifest-sha256.txt lists")
    if tags is None or any(hashlib.sha256(members.get(p, b"")).hexdigest() != h for p, h in tags.items()):
        integrity.append("the tag files are not what tagmanifest-sha256.txt lists")
    try:
        manifest = manifests.parse(data["data/document/manifest.json"])
        body = next(v for k, v in data.items() if k.startswith("data/document/body/"))
        by_digest = {manifests.sha256_hex(v) for k, v in data.items() if k.startswith("data/document/attachments/")}
        if manifests.sha256_hex(body) != manifest.get("body_sha256") or \
                by_digest != {a.get("sha256") for a in manifest.get("attachments", [])}:
            integrity.append("a part is not the one the sealed manifest names")
    except (KeyError, StopIteration, ValueError, TypeError, AttributeError, IndexError):
        integrity.append("the manifest or a part is missing or unreadable")
        manifest = None
    result["integrity"] = {"ok": not integrity, "detail": "; ".join(integrity) or
                           f"{len(data)} payload files match the bag's and the sealed manifest's digests"}
    if manifest is not None:
        verdict, _ = sealed.verify_sealed(data["data/document/manifest.json"],
                                          data.get("data/document/signature.p7s", b""),
                                          x509.load_pem_x509_certificates(ca_pem), None)
        result["authenticity"] = {"ok": bool(verdict["valid"]),
                                  "detail": f"seal {verdict.get('seal_serial')} of {verdict.get('unit_code')}"
                                  if verdict["valid"] else f"the seal does not verify: {verdict['reason']}"}
    usability = []
    for required in ("bagit.txt", "bag-info.txt", "data/metadata.json", "data/receipts.json", "data/README.md"):
        if required not in members:
            usability.append(f"{required} is missing")
    try:
        json.loads(members.get("data/metadata.json", b"{}"))
        json.loads(members.get("data/receipts.json", b"[]"))
    except ValueError:
        usability.append("metadata or receipts are not JSON")
    result["usability"] = {"ok": not usability, "detail": "; ".join(usability) or
                           "opens as a ZIP; BagIt tag files, metadata, receipts and README are readable"}
    return _verdict(result)


def _verdict(result: dict) -> dict:
    return {"ok": all(p["ok"] for p in result.values()), **result}

