"""The directory (revoked units leave it, 003 §10(二)) and resolving many units at once."""
import time

import pytest
from sqlalchemy import event


def codes(page):
    return [unit["code"] for unit in page["items"]]


def test_directory_pages_by_code(registry):
    for code in ("c1", "a1", "b1"):
        registry.unit(code, status="applied")
    first = registry.service.list_units(limit=2)
    assert codes(first) == ["a1", "b1"]
    assert codes(registry.service.list_units(limit=2, cursor=first["next_cursor"])) == ["c1"]


def test_revoked_units_leave_the_directory_but_stay_readable(registry):
    registry.unit("city")
    for code, status in (("d1", "active"), ("d2", "revoked"), ("d3", "applied")):
        registry.unit(code, status=status, parent_code="city")
    assert codes(registry.service.list_units(parent="city")) == ["d1", "d3"]
    assert codes(registry.service.list_units(parent="city", include_revoked=True)) == ["d1", "d2", "d3"]
    assert codes(registry.service.list_units(q="单位d")) == ["d1", "d3"]
    assert registry.service.get_unit("d2")["status"] == "revoked"
    registry.refuses("UNIT_NOT_FOUND", 404, registry.service.get_unit, "nobody")


def test_resolve_sorts_codes_into_known_missing_and_inactive(registry):
    for code, status in (("aa", "active"), ("bb", "applied"), ("cc", "revoked")):
        registry.unit(code, status=status)
    resolved = registry.service.resolve_units(["aa", "bb", "cc", "nobody", "aa"])
    assert resolved["units"] == {code: registry.service.get_unit(code) for code in ("aa", "bb", "cc")}
    assert (resolved["missing"], resolved["inactive"]) == (["nobody"], ["bb", "cc"])


@pytest.mark.parametrize("codes_", [[f"u{i}" for i in range(1001)], "aa", [1]])
def test_resolve_refuses_more_than_1000_codes_or_a_malformed_list(registry, codes_):
    registry.refuses("VALIDATION_ERROR", 400, registry.service.resolve_units, codes_)


def test_1000_units_resolve_in_one_query_well_under_a_second(registry):
    wanted = [f"u{i:04d}" for i in range(1000)]
    for code in wanted:
        registry.unit(code)
    registry.service.rename_unit("u0500", {"name": "新名称"})
    registry.session.flush()
    registry.session.expunge_all()  # as a fresh worker would: nothing cached in the session
    statements = []
    listener = event.listens_for(registry.session.get_bind(), "before_cursor_execute")(
        lambda conn, cursor, statement, *args: statements.append(" ".join(statement.split())))

    started = time.perf_counter()
    resolved = registry.service.resolve_units(wanted)
    elapsed = time.perf_counter() - started

    event.remove(registry.session.get_bind(), "before_cursor_execute", listener)
    print(f"\nresolve_units: 1,000 units in {elapsed * 1000:.0f} ms, {len(statements)} statements")
    assert len(resolved["units"]) == 1000 and resolved["missing"] == resolved["inactive"] == []
    assert resolved["units"]["u0500"]["former_names"] == ["单位u0500"]
    # One query for the units; their former names come in selectin's batches of 500.
    assert sum(" FROM units WHERE " in statement for statement in statements) == 1 and len(statements) == 3
    assert elapsed < 1.0
