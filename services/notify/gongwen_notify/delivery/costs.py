"""What a unit's SMS and calls cost in a month (000 §11: each unit pays its own), as Twilio reports it."""
import base64
import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select

from gongwen_common.errors import NotFound, ValidationFailed
from gongwen_common.phones import masked

from ..models import Message, UnitView

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONTH_PATTERN = r"^(2\d{3})-(0[1-9]|1[0-2])$"  # a month of SMS: this millennium's
_MONTH = re.compile(MONTH_PATTERN)


def month_bounds(month: str):
    """The month ``YYYY-MM`` in Asia/Shanghai, where the bills are, as [start, end)."""
    match = _MONTH.match(month or "")
    if not match:
        raise ValidationFailed({"month": ["YYYY-MM, from 2000-01"]})
    year, number = int(match[1]), int(match[2])
    start = datetime(year, number, 1, tzinfo=SHANGHAI)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=SHANGHAI)
    return start, end


def may_see(actor, unit_code) -> bool:
    """The operator sees every unit's; a unit's admin or leader (or their proxy) their own unit's."""
    roles = set(actor.get("roles") or ())
    return "operator" in roles or (actor.get("unit_code") == unit_code and bool(roles & {"admin", "leader"}))


def _cursor(message) -> str:
    return base64.urlsafe_b64encode(f"{message.created_at.isoformat()}|{message.id}".encode()).decode()


def _after(cursor):
    try:
        created, _, message_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        moment = datetime.fromisoformat(created)
        if moment.tzinfo is None:
            raise ValueError("a naive time")
        return moment, message_id
    except (ValueError, UnicodeDecodeError):
        raise NotFound(message="no such page of this listing (an unknown cursor)") from None


def unit_month(session, unit_code, month, actor, limit=100, cursor=None) -> dict:
    if not may_see(actor, unit_code) or session.get(UnitView, unit_code) is None:
        # another unit's: existence does not leak
        raise NotFound(message=f"no SMS record of unit {unit_code} for you")
    start, end = month_bounds(month)
    in_month = (Message.unit_code == unit_code, Message.created_at >= start, Message.created_at < end)
    accepted = Message.provider_sid.is_not(None)
    messages, segments = session.execute(
        select(func.count(), func.coalesce(func.sum(Message.segments), 0))
        .where(*in_month, accepted, Message.channel == "sms")).one()
    calls = session.scalar(select(func.count()).where(*in_month, accepted, Message.channel == "voice"))
    total, units = Decimal(0), set()
    for price, unit in session.execute(select(Message.price, Message.price_unit).where(*in_month,
                                                                                        Message.price.is_not(None))):
        try:
            total += Decimal(price)
            units.add(unit)
        except InvalidOperation:
            continue
    query = select(Message).where(*in_month).order_by(Message.created_at, Message.id).limit(limit + 1)
    if cursor:
        created, message_id = _after(cursor)
        query = query.where(or_(Message.created_at > created,
                                and_(Message.created_at == created, Message.id > message_id)))
    rows = session.scalars(query).all()
    page, more = rows[:limit], len(rows) > limit
    return {"unit_code": unit_code, "month": month, "messages": messages, "segments": int(segments), "calls": calls,
            "price": str(total) if units else None, "price_unit": units.pop() if len(units) == 1 else None,
            "items": [item(m) for m in page], "next_cursor": _cursor(page[-1]) if more else None}


def item(message: Message) -> dict:
    """One message as the unit's SMS log shows it (the number masked)."""
    return {"id": message.id, "reference": message.reference, "channel": message.channel, "to": masked(message.to),
            "document_id": message.document_id, "user_id": message.user_id, "status": message.status,
            "segments": message.segments, "price": message.price, "price_unit": message.price_unit,
            "error_code": message.error_code, "error_message": message.error_message,
            "attempts": message.attempts, "created_at": message.created_at.isoformat(),
            "sent_at": message.sent_at and message.sent_at.isoformat(),
            "delivered_at": message.delivered_at and message.delivered_at.isoformat()}
