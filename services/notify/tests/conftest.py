"""Notify's worker on SQLite (nameko's ``worker_factory``, no broker) with a clock the test moves:
events are handed to its handlers as the broker would, and the timer is run by hand."""
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from nameko.cli.main import setup_yaml_parser
from nameko.testing.services import worker_factory
from sqlalchemy import select

from conftest import WorkerCalls
from gongwen_common.clock import MovableClock
from gongwen_notify.models import Base, Message, Notification
from gongwen_notify.service import NotifyService

CONFIG_FILE = Path(__file__).parents[1] / "config.yaml"


def shipped_config(**overrides) -> dict:
    """``services/notify/config.yaml`` as ``nameko run`` reads it, with ``overrides``."""
    setup_yaml_parser()
    return {**yaml.safe_load(CONFIG_FILE.read_text()), **overrides}


class Notify(WorkerCalls):
    def __init__(self, session, config):
        self.session = session
        self.clock = MovableClock(datetime(2026, 12, 1, 2, 0, tzinfo=UTC))  # Tuesday 10:00 in Beijing
        self.service = worker_factory(NotifyService, db=session, clock=self.clock, config=config)
        self.numbers = iter(range(13800138001, 13800139000))
        self.version = 0

    def event(self, source, event_type, data):
        handler = next(getattr(self.service, name) for name in dir(type(self.service))
                       if (getattr(getattr(type(self.service), name), "gongwen_subscription", None) or ())[:2]
                       == (source, event_type))
        handler({"event_id": str(uuid.uuid4()), "event_type": event_type,
                 "occurred_at": self.clock.now.isoformat(), "data": data})
        self.session.commit()

    def person(self, unit_code, *roles, mobile=True) -> str:
        user_id = str(uuid.uuid4())
        self.event("identity", "user_created", {"user": {
            "user_id": user_id, "name": f"{roles[0]} of {unit_code}", "unit_code": unit_code, "roles": list(roles),
            "mobile": f"+86{next(self.numbers)}" if mobile else None, "status": "active"}})
        return user_id

    def unit(self, code, clerks=1, sms=True, leader_mobile=True) -> dict:
        """An active unit with its people and filed contacts."""
        self.version += 1
        people = {"admin": self.person(code, "admin"), "clerks": [self.person(code, "clerk") for _ in range(clerks)],
                  "leader": self.person(code, "leader", mobile=leader_mobile)}
        unit = {"code": code, "name": f"{code}单位", "status": "active", "version": self.version}
        self.event("registry", "unit_registered", unit)
        self.event("registry", "contacts_changed", {"unit": unit, "contacts": {
            "admin_user_id": people["admin"], "clerk_user_ids": people["clerks"],
            "leader_user_id": people["leader"], "deputy_leader_user_id": None, "sms_enabled": sms}})
        return people

    def send(self, sender, recipients, urgency="extra_urgent", title="关于做好冬季安全生产工作的紧急通知",
             due_minutes=30, doc_number=None):
        from datetime import timedelta
        document_id = str(uuid.uuid4())
        due = self.clock.now + timedelta(minutes=due_minutes)
        receipts = [{"receipt_id": str(uuid.uuid4()), "unit_code": code, "role": "main", "due_at": due.isoformat(),
                     "generation": 1} for code in recipients]
        self.event("exchange", "document_sent", {
            "id": document_id, "issuer_code": sender, "doc_number": doc_number or f"穗府办〔2026〕{len(recipients)}号",
            "title": title, "urgency": urgency, "sent_at": self.clock.now.isoformat(), "status": "sent",
            "receipts": receipts})
        return document_id, {r["unit_code"]: r for r in receipts}

    def sign(self, document_id, receipt):
        self.event("exchange", "receipt_signed", {"id": document_id, "receipt": {**receipt, "state": "signed"}})

    def tick(self):
        return self.service.escalate()

    def messages(self, **where) -> list[Message]:
        query = select(Message).order_by(Message.created_at, Message.id)
        for name, value in where.items():
            query = query.where(getattr(Message, name) == value)
        return list(self.session.scalars(query))

    def notifications(self, **where) -> list[Notification]:
        query = select(Notification).order_by(Notification.created_at, Notification.step, Notification.id)
        for name, value in where.items():
            query = query.where(getattr(Notification, name) == value)
        return list(self.session.scalars(query))


@pytest.fixture
def make_notify(sqlite_session):
    """``make_notify(**config_overrides)``: a worker on its own database."""
    return lambda **overrides: Notify(sqlite_session(Base), shipped_config(**overrides))


@pytest.fixture
def notify(make_notify):
    return make_notify()
