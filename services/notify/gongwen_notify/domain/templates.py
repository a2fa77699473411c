"""Text templates as data with an approval flag: carriers send only approved templates, so only
an approved one is sent; the defaults ship (approved) in config, the operator edits and approves."""
from gongwen_common.audit import Caller
from gongwen_common.errors import Forbidden, NotFound, ValidationFailed, validated
from gongwen_contracts.notify.schemas import TemplateSchema

from ..models import TemplateRecord
from . import texts
from .changes import announce, digest
from .settings import NotifySettings


def current(session, name, settings: NotifySettings) -> tuple[str, bool, TemplateRecord | None]:
    """The template's text, whether it is approved, and the operator's record (None: shipped)."""
    record = session.get(TemplateRecord, name)
    if record is not None:
        return record.text, bool(record.approved), record
    return settings.templates[name], True, None


def approved_text(session, name, settings) -> str | None:
    """The text to send, or None while the template is not approved."""
    text, approved, _ = current(session, name, settings)
    return text if approved else None


def _known(name, settings) -> str:
    if not isinstance(name, str) or name not in settings.templates:
        raise NotFound(message=f"no template {name!r}")
    return name


def _require_operator(actor):
    caller = Caller.of(actor)
    if not caller.is_operator:
        raise Forbidden(message="Only the operator edits and approves templates.")
    return caller


def _view(name, text, approved, record) -> dict:
    return {"name": name, "text": text, "approved": approved, "placeholders": list(texts.PLACEHOLDERS[name]),
            "source": "operator" if record else "config", "updated_by": record.updated_by if record else None,
            "updated_at": record.updated_at.isoformat() if record else None}


def get(session, name, actor, settings) -> dict:
    _require_operator(actor)
    return _view(_known(name, settings), *current(session, name, settings))


def put(session, name, body, actor, settings, now) -> dict:
    caller = _require_operator(actor)
    _known(name, settings)
    data = validated(TemplateSchema(), body if isinstance(body, dict) else {})
    problems = texts.template_problems(name, data["text"])
    if problems:
        raise ValidationFailed({"text": problems})
    record = session.get(TemplateRecord, name, with_for_update=True)
    before_text, before_approved, _ = current(session, name, settings)
    if record is None:
        record = TemplateRecord(name=name)
        session.add(record)
    record.text, record.approved, record.updated_by, record.updated_at = (data["text"], data["approved"],
                                                                          caller.user_id, now)
    # ``notify_template_changed``: the new text and approval, and the digest of the text it replaced
    announce(session, now, caller, "notify_template_changed", "notify_template", name, {
        "name": name, "text": record.text, "approved": record.approved, "before_sha256": digest(before_text),
        "after_sha256": digest(record.text), "was_approved": before_approved})
    return _view(name, record.text, record.approved, record)
