"""The texts: templates filled in, counted and cut as Chinese carriers count them.

Chinese needs UCS-2, whose SMS carries 70 UTF-16 code units alone, or 67 per part once split
(the rest of each part is the concatenation header); a character outside the BMP takes two
units. GSM-7 is not needed: every text names a unit in Chinese. A title is cut (with "…") so
that the whole text fits the policy's segment budget; SMS in China is one-way, so a text links
to the document and never asks for a reply."""
import string
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from gongwen_contracts.notify.schemas import PLACEHOLDERS

SINGLE, PART = 70, 67
ELLIPSIS = "…"
URGENCY_NAMES = {"normal": "平急", "urgent": "加急", "extra_urgent": "特急"}
FORBIDDEN_PHRASES = ("回复", "reply")  # one-way SMS: nothing may ask for an answer


def units(text: str) -> int:
    """Length in UTF-16 code units, as UCS-2 SMS count it."""
    return len(text.encode("utf-16-le")) // 2


def segments(text: str) -> int:
    """How many SMS parts a carrier bills for the text (UCS-2)."""
    length = units(text)
    if length == 0:
        return 0
    return 1 if length <= SINGLE else -(-length // PART)


def capacity(budget: int) -> int:
    """The most UTF-16 units that fit in ``budget`` parts."""
    return SINGLE if budget <= 1 else PART * budget


def placeholders_of(text: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(text) if name]


def template_problems(name: str, text: str) -> list[str]:
    """Why a template's text cannot be used: unknown placeholders, or one that asks for a reply."""
    problems = []
    allowed = PLACEHOLDERS.get(name)
    try:
        used = placeholders_of(text)
    except ValueError as exc:
        return [f"not a template: {exc}"]
    if allowed is not None:
        unknown = sorted(set(used) - set(allowed))
        if unknown:
            problems.append(f"unknown placeholders {unknown}; allowed: {list(allowed)}")
    if any(phrase in text.lower() for phrase in FORBIDDEN_PHRASES):
        problems.append("SMS is one-way: a text must not ask for a reply (it links to the document)")
    return problems


def cut(value: str, room: int) -> str:
    """``value`` cut to at most ``room`` UTF-16 units, "…" included when cut."""
    if units(value) <= room:
        return value
    if room <= 0:
        return ""
    kept = ""
    for char in value:
        if units(kept + char) > room - 1:
            break
        kept += char
    return kept + ELLIPSIS


def fit(template: str, values: dict, room: int, shrink: str = "title") -> str:
    """The template filled in; if it is longer than ``room`` UTF-16 units, ``values[shrink]`` is
    cut (with "…") to fit. ``room``: e.g. ``capacity(budget)`` less what the sender adds later."""
    text = template.format(**values)
    excess = units(text) - room
    if excess <= 0:
        return text
    return template.format(**{**values, shrink: cut(values[shrink], units(values[shrink]) - excess)})


@dataclass(frozen=True)
class DocumentFacts:
    """What a text says of a document (every text names the sending unit, the number, the title
    and, for a receipt, the due time in Asia/Shanghai)."""

    sender: str
    recipient: str
    doc_number: str
    title: str
    urgency: str
    due_at: object
    link: str

    def values(self, zone: ZoneInfo) -> dict:
        return {"sender": self.sender, "recipient": self.recipient, "doc_number": self.doc_number,
                "title": self.title, "urgency": URGENCY_NAMES.get(self.urgency, self.urgency),
                "due": local_time(self.due_at, zone), "link": self.link}


def local_time(moment, zone: ZoneInfo) -> str:
    """``2026-12-01 18:00``, Beijing time (the text says so through the template)."""
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")
