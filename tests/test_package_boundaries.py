"""Package boundaries, read from the source (``ast``, imports inside functions included).

- A service package (``services/<name>/gongwen_<name>``) imports no other service's package:
  what it needs of another service is that service's contract (``gongwen_contracts.<other>``)
  or an RPC/event at run time.
- The gateway imports only ``gongwen_contracts``, ``gongwen_common`` and third-party modules.
- Contracts import only ``gongwen_common``, marshmallow, SQLAlchemy and the standard library:
  installing a contract never installs a service's runtime dependencies.
- ``gongwen_common`` imports no service, contract or gateway.

Tests (``*/tests``) are not packages and may run other services' workers; ``cli/``, ``deploy/``
and ``bench/`` are tools and may import what they need.

Also: every event type a service emits has a schema of its ``data`` in its contract's
``events`` (and every schema there names an event the service emits).
"""
import ast
import sys
import tomllib
from pathlib import Path

import pytest

from gongwen_contracts.events import SERVICES, event_types

ROOT = Path(__file__).resolve().parent.parent
SERVICE_PACKAGES = {f"gongwen_{name}" for name in SERVICES}
CONTRACT_THIRD_PARTY = {"marshmallow", "sqlalchemy"}
SERVICE_RUNTIME = ("argon2", "zxcvbn", "chinese_calendar", "chinese-calendar", "cryptography", "twilio", "pillow")


def package_dirs():
    yield from sorted((ROOT / "services").glob("*/gongwen_*/"))
    yield ROOT / "gateway" / "gongwen_gateway"
    yield ROOT / "contracts" / "gongwen_contracts"
    yield ROOT / "common" / "gongwen_common"


def imports(package: Path) -> dict[str, set[str]]:
    """Top-level module → the files of ``package`` importing it (absolute imports; a relative one
    stays inside the package)."""
    found: dict[str, set[str]] = {}
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(ROOT)))
    return found


def first_party(found: dict) -> dict:
    return {name: files for name, files in found.items() if name.startswith("gongwen_")}


def test_the_packages_are_all_found():
    names = {path.name for path in package_dirs()}
    assert names >= SERVICE_PACKAGES | {"gongwen_gateway", "gongwen_contracts", "gongwen_common"}


@pytest.mark.parametrize("package", [p for p in package_dirs() if p.name in SERVICE_PACKAGES], ids=lambda p: p.name)
def test_no_service_imports_another_services_package(package):
    allowed = {package.name, "gongwen_common", "gongwen_contracts"}
    wrong = {name: sorted(files) for name, files in first_party(imports(package)).items() if name not in allowed}
    assert wrong == {}


def test_the_gateway_imports_only_contracts_and_common():
    allowed = {"gongwen_gateway", "gongwen_common", "gongwen_contracts"}
    found = first_party(imports(ROOT / "gateway" / "gongwen_gateway"))
    assert {name: sorted(files) for name, files in found.items() if name not in allowed} == {}


def test_contracts_import_only_common_marshmallow_sqlalchemy_and_the_standard_library():
    allowed = {"gongwen_contracts", "gongwen_common", *CONTRACT_THIRD_PARTY, *sys.stdlib_module_names}
    found = imports(ROOT / "contracts" / "gongwen_contracts")
    assert {name: sorted(files) for name, files in found.items() if name not in allowed} == {}


def test_common_imports_no_service_contract_or_gateway():
    found = first_party(imports(ROOT / "common" / "gongwen_common"))
    assert {name: sorted(files) for name, files in found.items() if name != "gongwen_common"} == {}


def dependencies(directory) -> list[str]:
    project = tomllib.loads((ROOT / directory / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [dependency.lower() for dependency in project["dependencies"]]


def test_installing_the_gateway_or_a_contract_installs_no_service():
    """What the packages declare agrees with what they import: the gateway and the contracts
    depend on no service distribution, and a contract on none of a service's runtime libraries."""
    services = {f"gongwen-{name}" for name in SERVICES}
    assert not services & set(dependencies("gateway"))
    contracts = dependencies("contracts")
    assert not services & set(contracts)
    assert not [d for d in contracts if d.startswith(SERVICE_RUNTIME)]
    for name in SERVICES:
        assert "gongwen-contracts" in dependencies(f"services/{name}")
        assert not (services - {f"gongwen-{name}"}) & set(dependencies(f"services/{name}"))


def emitted_event_types(package: Path) -> set[str]:
    """The literal event types of ``session.emit("…", …)`` and the registry's ``announce(session,
    now, by, "…", …)`` in a service package."""
    types = set()
    for path in package.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        # ``announce`` passes its callers' types on to ``emit``: its callers are the ones read
        forwarding = {id(node) for helper in ast.walk(tree)
                      if isinstance(helper, ast.FunctionDef) and helper.name == "announce"
                      for node in ast.walk(helper)}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or id(node) in forwarding:
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            position = {"emit": 0, "announce": 3}.get(name)
            if position is None or len(node.args) <= position:
                continue
            argument = node.args[position]
            assert isinstance(argument, ast.Constant) and isinstance(argument.value, str), \
                f"{path.relative_to(ROOT)}:{node.lineno}: an event type must be a literal, to be found here"
            types.add(argument.value)
    return types


@pytest.mark.parametrize("service", SERVICES)
def test_every_event_type_a_service_emits_has_a_schema_in_its_contract(service):
    emitted = emitted_event_types(ROOT / "services" / service / f"gongwen_{service}")
    assert emitted == set(event_types(service))


@pytest.mark.parametrize("package", [p for p in package_dirs() if p.name != "gongwen_common"], ids=lambda p: p.name)
def test_rpc_goes_through_the_cluster_safe_entrypoints_and_proxies(package):
    """nameko's own ``rpc``/``RpcProxy`` declare classic durable queues, which live on one RabbitMQ
    node and cannot fail over; ``gongwen_common.entrypoints.rpc`` and ``gongwen_common.rpc.RpcProxy``
    use quorum request queues and transient reply queues."""
    offending = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module == "nameko.rpc":
                offending += [f"{path.relative_to(ROOT)}: {alias.name}" for alias in node.names]
    assert not offending, offending
