"""A test-only service whose event handler's effect is not idempotent by itself: it adds one to
a counter. Only the handled-event record keeps a repeated delivery from counting twice."""
from sqlalchemy import Integer, String, update
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from gongwen_common.entrypoints import event_handler
from gongwen_common.service import ServiceBase


class Base(DeclarativeBase):
    pass


class Counter(Base):
    __tablename__ = "counters"
    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)


class CountingService(ServiceBase):
    name = "counting"

    @event_handler("ticker", "ticked")
    def count(self, event):
        self.db.execute(update(Counter).where(Counter.name == event.data["counter"]).values(n=Counter.n + 1))
