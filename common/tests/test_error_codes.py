"""One error class per concept: a stable code is defined once, where every raiser imports it."""
import importlib
import pkgutil
from collections import defaultdict

from gongwen_common.errors import DomainError

PACKAGES = ("gongwen_common", "gongwen_registry", "gongwen_identity", "gongwen_seal", "gongwen_exchange",
            "gongwen_notify", "gongwen_archive", "gongwen_gateway")


def subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from subclasses(sub)


def test_each_error_code_is_defined_by_one_class():
    for package in PACKAGES:
        root = importlib.import_module(package)
        for module in pkgutil.walk_packages(root.__path__, f"{package}."):
            if ".migrations" not in module.name and ".tests" not in module.name:
                importlib.import_module(module.name)
    defined = defaultdict(list)
    for cls in subclasses(DomainError):
        if "code" in vars(cls) and cls.__module__.split(".")[0] in PACKAGES:
            defined[cls.code].append(f"{cls.__module__}.{cls.__qualname__}")
    assert {code: where for code, where in defined.items() if len(where) > 1} == {}
