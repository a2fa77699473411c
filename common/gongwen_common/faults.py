"""Failure points for reliability tests (the crash-here switches of the outbox and handlers).

Inactive unless ``GONGWEN_FAULTS`` names them, e.g.
``GONGWEN_FAULTS="outbox.before_publish=exit,event.exchange.on_unit_registered=fail:2"``.
``exit`` ends the process at once (as a crash would); ``fail:N`` raises the first N times;
``fail`` always raises; ``hold:PATH`` waits there until the file PATH exists (a test holds a
process at a point, looks at the world, then releases it by creating the file).
"""
import logging
import os
import time
from collections import Counter

log = logging.getLogger(__name__)
_hits = Counter()


class InjectedFault(RuntimeError):
    pass


def _plan():
    spec = os.environ.get("GONGWEN_FAULTS", "")
    return dict(item.split("=", 1) for item in spec.split(",") if "=" in item)


def hit(point: str) -> None:
    action = _plan().get(point)
    if action is None:
        return
    _hits[point] += 1
    if action == "exit":
        os._exit(70)
    if action.startswith("hold:"):
        log.warning("fault: holding at %s until %s exists", point, action[5:])
        while not os.path.exists(action[5:]):
            time.sleep(0.05)
        return
    if action == "fail" or (action.startswith("fail:") and _hits[point] <= int(action[5:])):
        raise InjectedFault(f"injected fault at {point} (#{_hits[point]})")
