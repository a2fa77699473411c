"""Sealing (盖章) a document manifest and verifying a sealed one.

A seal signs the manifest's bytes, RFC 8785 canonical JSON of the metadata and every part's
sha256, as a detached CMS SignedData (DER) with the unit's certificate embedded and the
signing time signed, so anyone can check it with ``openssl cms -verify`` and the CA certificate.
Verification adds what only this service knows: whether the seal had been revoked by then.
"""
import base64
import json
import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from gongwen_common import cms, sealed
from gongwen_common import manifest as manifests
from gongwen_common.audit import Caller

from ..models import PrintStamp, Seal, SealUse
from . import keys, signers
from .custody import take_approvals
from .errors import Conflict, Forbidden, InvalidManifest, NotFound, SealExpired, SealNotActive, ValidationFailed
from .seals import record

SEAL_REVOKED = "SEAL_REVOKED"
MAX_MANIFEST_BYTES = 256 * 1024


def _manifest(manifest_bytes) -> dict:
    if not isinstance(manifest_bytes, bytes) or not 0 < len(manifest_bytes) <= MAX_MANIFEST_BYTES:
        raise ValidationFailed({"manifest": [f"1 byte to {MAX_MANIFEST_BYTES // 1024} KiB of JSON"]})
    try:
        document = manifests.parse(manifest_bytes)
    except ValueError as exc:
        raise ValidationFailed({"manifest": [str(exc)]}) from None
    if not manifests.is_canonical(manifest_bytes):
        raise InvalidManifest(message="The manifest is not in its RFC 8785 canonical form.",
                              fields={"manifest": ["not RFC 8785 canonical JSON"]})
    return document


def request_key(unit_code: str, seal_serial: str, manifest_sha256: str, approval_ids) -> str:
    """Names one sealing request: a retry of it (after a timeout, say) has the same key."""
    approvals = sorted(approval_ids or [])
    return manifests.sha256_hex(json.dumps([unit_code, seal_serial, manifest_sha256, approvals]).encode())


def sign(session, unit_code, manifest_bytes: bytes, actor, approval_ids, settings, now) -> dict:
    """Seal the manifest with the unit's active seal. Only the unit's own clerks (or their proxies)
    may; two-person custody is honoured; every use is logged.

    Idempotent under retry: the same request (unit, seal, manifest, approval ids) answers the
    signature made the first time and consumes no approval again. Concurrent first calls queue
    on the seal's row lock, so the second finds the first's use."""
    caller = Caller.of(actor)
    if not isinstance(unit_code, str) or caller.unit_code != unit_code:
        raise NotFound(message=f"no seal of unit {unit_code!r} for you")
    if not caller.has("clerk"):
        raise Forbidden(message="Only the unit's clerks (or their proxies) may seal with its seal.")
    document = _manifest(manifest_bytes)
    if "issuer_code" in document and document["issuer_code"] != unit_code:
        raise InvalidManifest(message="The manifest is issued by another unit.",
                              fields={"manifest": [f"issuer_code is {document['issuer_code']!r}, not {unit_code!r}"]})
    if approval_ids is not None and (not isinstance(approval_ids, list)
                                     or not all(isinstance(i, str) for i in approval_ids)):
        raise ValidationFailed({"seal_use_approval_ids": ["a list of approval ids"]})
    # Locked as it is read, so a revocation cannot slip in between check and use: one waiting on a
    # revocation's commit reads the seal as revoked (PostgreSQL re-checks the row) and finds none active.
    seal = session.scalar(select(Seal).where(Seal.unit_code == unit_code, Seal.status == "active").limit(1)
                          .with_for_update().execution_options(populate_existing=True))
    if seal is None:
        raise SealNotActive(message=f"unit {unit_code!r} has no active seal")
    if not seal.not_before <= now <= seal.not_after:
        raise SealExpired(message=f"seal {seal.serial} is valid {seal.not_before.isoformat()} to "
                                  f"{seal.not_after.isoformat()}; apply for a new one")
    digest = manifests.sha256_hex(manifest_bytes)
    key = request_key(unit_code, seal.serial, digest, approval_ids)
    done = _use_of(session, key)
    if done is not None:
        return _sealing_view(done)
    # Should another writer have made this very use after all (the unique key is the last word),
    # none of ours stays, approvals included, and its use is the answer.
    return _sealing_view(_made_once(
        session, lambda: _seal(session, seal, manifest_bytes, digest, key, caller, approval_ids, settings, now),
        lambda: _use_of(session, key)))


def _made_once(session, make, made_by_another):
    """``make()`` in a savepoint; if a concurrent writer took its unique key first (an integrity
    error at our insert), everything ``make`` did is undone and the other's row is the answer."""
    try:
        with session.begin_nested():
            return make()
    except IntegrityError:
        row = made_by_another()
        if row is None:
            raise
        return row


def _seal(session, seal: Seal, manifest_bytes, digest, key, caller: Caller, approval_ids, settings, now) -> SealUse:
    used = take_approvals(session, seal, digest, approval_ids, settings.approval_window, now)
    signature = signers.SIGNERS.template(seal, settings.kek, settings.key_cache_seconds).seal(manifest_bytes, now)
    use = SealUse(seal_serial=seal.serial, manifest_sha256=digest, signed_at=now, signed_by=caller.user_id,
                  proxy_user_id=caller.proxy_user_id, approval_ids=used, request_key=key, signature=signature)
    session.add(use)
    session.flush()
    record(session, now, caller, "seal_used", "seal", seal.serial, manifest_sha256=digest, approvals=used)
    session.emit("seal_used", {"seal_serial": seal.serial, "unit_code": seal.unit_code, "manifest_sha256": digest,
                               "signed_at": now.isoformat(), "signed_by": caller.user_id,
                               "proxy_user_id": caller.proxy_user_id}, at=now)
    return use


def _use_of(session, key: str) -> SealUse | None:
    return session.scalar(select(SealUse).where(SealUse.request_key == key))


def _sealing_view(use: SealUse) -> dict:
    return {"signature": base64.b64encode(use.signature).decode(), "seal_serial": use.seal_serial,
            "manifest_sha256": use.manifest_sha256, "signed_at": use.signed_at.isoformat(),
            "approvals_used": list(use.approval_ids)}


def verify(session, manifest_bytes: bytes, signature: bytes, settings, now, unit_code=None, body=None,
           attachments=None) -> dict:
    """Check a sealed manifest as anyone can (``gongwen_common.sealed``: signature, chain to our CA,
    certificate validity at signing time, the claimed sending unit, the parts' digests), then what
    only this service knows: that it is a seal of ours and was not revoked by the time it signed.
    A revocation before signing outranks the other reasons: the seal itself was not good."""
    _, root_certificate = keys.root(session, settings.kek, now)
    manifest_bytes = manifest_bytes if isinstance(manifest_bytes, bytes) else b""
    result, checked = sealed.verify_sealed(manifest_bytes, signature if isinstance(signature, bytes) else b"",
                                           [root_certificate], unit_code, body, attachments)
    result.update(seal_status=None, seal_status_since=None, manifest_sha256=manifests.sha256_hex(manifest_bytes))
    if not checked.valid:
        return result
    seal = session.get(Seal, result["seal_serial"]) if result["seal_serial"] else None
    if seal is None or seal.certificate_serial != format(checked.signer_certificate.serial_number, "x"):
        # Issued by our CA yet not a seal of ours: nothing this service made.
        return {**result, "valid": False, "reason": cms.UNKNOWN_ISSUER}
    result["seal_status"] = seal.status
    result["seal_status_since"] = (seal.destroyed_at or seal.revoked_at or seal.approved_at).isoformat()
    if seal.revoked_at is not None and seal.revoked_at <= checked.signing_time:
        return {**result, "valid": False, "reason": SEAL_REVOKED}
    return result


MAX_STAMP_KEY = 80


def verify_for_print(session, manifest_bytes, signature, actor, settings, now, unit_code=None, body=None,
                     attachments=None, stamp_key=None) -> dict:
    """The verification seal for a printed copy (004 五(一)): verify, and if valid issue a print
    serial to stamp on the copy with the seal image. An invalid document gets no stamp.

    Only the exchange's granted print calls this (the gateway offers plain verification only).
    ``stamp_key`` names the print (the exchange's print id): a retry with it answers the stamp
    issued the first time; concurrent first calls meet at the key's unique index and the loser
    answers the winner's stamp."""
    caller = Caller.of(actor)
    if stamp_key is not None and (not isinstance(stamp_key, str) or not 0 < len(stamp_key) <= MAX_STAMP_KEY):
        raise ValidationFailed({"stamp_key": [f"1 to {MAX_STAMP_KEY} characters"]})
    result = verify(session, manifest_bytes, signature, settings, now, unit_code, body, attachments)
    if not result["valid"]:
        return {**result, "stamp": None}
    seal = session.get(Seal, result["seal_serial"])
    stamp = _stamp_of(session, stamp_key, result["manifest_sha256"])
    if stamp is None:
        digest = result["manifest_sha256"]
        stamp = _made_once(session, lambda: _new_stamp(session, seal, digest, caller, stamp_key, now),
                           lambda: _stamp_of(session, stamp_key, digest))
    return {**result, "stamp": {"print_serial": stamp.print_serial, "verified_at": stamp.issued_at.isoformat(),
                                "seal_serial": seal.serial, "unit_name": seal.unit_name,
                                "image_png": base64.b64encode(seal.image_png).decode()}}


def _stamp_of(session, stamp_key, manifest_sha256) -> PrintStamp | None:
    if stamp_key is None:
        return None
    stamp = session.scalar(select(PrintStamp).where(PrintStamp.stamp_key == stamp_key))
    if stamp is not None and stamp.manifest_sha256 != manifest_sha256:
        raise Conflict("STAMP_KEY_REUSED", f"stamp key {stamp_key!r} was used for another manifest")
    return stamp


def _new_stamp(session, seal: Seal, manifest_sha256, caller: Caller, stamp_key, now) -> PrintStamp:
    stamp = PrintStamp(print_serial="P" + now.strftime("%Y%m%d") + uuid.uuid4().hex[:10].upper(),
                       seal_serial=seal.serial, manifest_sha256=manifest_sha256, issued_at=now,
                       issued_to=caller.user_id, stamp_key=stamp_key)
    session.add(stamp)
    session.flush()
    record(session, now, caller, "print_stamp_issued", "seal", seal.serial, print_serial=stamp.print_serial,
           manifest_sha256=manifest_sha256)
    return stamp
