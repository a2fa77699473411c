from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from gongwen_common.tables import UtcDateTime


class Base(DeclarativeBase):
    pass


class Unit(Base):
    """A member organisation of the exchange (使用单位)."""

    __tablename__ = "units"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    parent_code: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16))
    created_at = mapped_column(UtcDateTime, nullable=False)
