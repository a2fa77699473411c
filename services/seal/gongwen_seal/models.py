from sqlalchemy import Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from gongwen_common.tables import UtcDateTime


class Base(DeclarativeBase):
    pass


class UnitView(Base):
    """This service's own copy of the unit directory, fed by registry events."""

    __tablename__ = "unit_views"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer, default=0)  # the registry's version of this unit
    revision: Mapped[int] = mapped_column(Integer, default=0)  # how many events were applied here
    updated_at = mapped_column(UtcDateTime, nullable=False)
