from sqlalchemy.orm import DeclarativeBase

from gongwen_contracts.registry.replica import UnitViewColumns


class Base(DeclarativeBase):
    pass


class UnitView(UnitViewColumns, Base):
    """This service's own copy of the unit directory, fed by registry events."""
