"""Segments counted as carriers count UCS-2, titles cut to the budget, and what "tighter" means."""
import pytest

from gongwen_contracts.notify.schemas import PolicySchema
from gongwen_notify.domain import policies, texts


@pytest.mark.parametrize(("length", "parts"), [(0, 0), (1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3),
                                               (202, 4)])
def test_segments_are_counted_as_ucs2_70_alone_and_67_per_part(length, parts):
    assert texts.segments("公" * length) == parts


def test_a_character_outside_the_bmp_counts_as_two_units():
    assert texts.units("𠀀") == 2
    assert texts.segments("公" * 69 + "𠀀") == 2


def test_a_title_is_cut_so_that_the_text_fits_the_segment_budget():
    template = "【公文交换】{sender}：{doc_number}《{title}》，时限{due}"
    values = {"sender": "广州市发改委", "doc_number": "穗发改〔2026〕12号",
              "title": "关于" + "安全生产" * 40 + "的通知", "due": "2026-12-01 18:00"}
    for budget, reserved in ((1, 0), (2, 12), (3, 0)):
        text = texts.fit(template, values, texts.capacity(budget) - reserved)
        assert texts.segments(text) <= budget and texts.units(text) <= texts.capacity(budget) - reserved
        assert text.endswith("…》，时限2026-12-01 18:00") and "广州市发改委" in text and "穗发改〔2026〕12号" in text
        assert texts.units(text) == texts.capacity(budget) - reserved  # cut no more than needed
    short = texts.fit(template, {**values, "title": "通知"}, 70)
    assert "《通知》" in short and "…" not in short


def test_a_text_that_asks_for_a_reply_is_refused():
    assert texts.template_problems("reminder", "请回复1确认：{link}")
    assert texts.template_problems("reminder", "{sender}{nonsense}")
    assert not texts.template_problems("reminder", "{sender}{doc_number}《{title}》{due}{link}")


def policy(*steps, quiet=None):
    return PolicySchema().load({"steps": [dict(zip(("after", "from", "audience", "channel"), step, strict=False))
                                          | ({"repeat": step[4]} if len(step) > 4 else {}) for step in steps],
                                "quiet_hours": quiet})


DEFAULT = policy(("0m", "sent", "recipient_clerks", "sms"), ("30m", "sent", "recipient_clerks", "sms"),
                 ("1h", "due", "recipient_leader", "voice"), quiet={"start": "21:00", "end": "08:00"})


def test_earlier_more_often_or_more_people_is_tighter():
    assert policies.is_tighter(DEFAULT, DEFAULT)
    earlier = policy(("0m", "sent", "recipient_clerks", "sms"), ("15m", "sent", "recipient_clerks", "sms"),
                     ("30m", "due", "recipient_leader", "voice"), quiet={"start": "22:00", "end": "07:00"})
    assert policies.is_tighter(earlier, DEFAULT)
    repeated = policy(("0m", "sent", "recipient_clerks", "sms", {"every": "10m", "times": 3}),
                      ("0m", "due", "recipient_leader", "voice"), ("0m", "sent", "recipient_admin", "sms"))
    assert policies.is_tighter(repeated, DEFAULT)  # 0, 10, 20, 30 ≤ 0, 30; no quiet hours at all


@pytest.mark.parametrize(("loosened", "why"), [
    (policy(("0m", "sent", "recipient_clerks", "sms"), ("1h", "due", "recipient_leader", "voice")), "1 alert"),
    (policy(("0m", "sent", "recipient_clerks", "sms"), ("45m", "sent", "recipient_clerks", "sms"),
            ("1h", "due", "recipient_leader", "voice")), "later"),
    (policy(("0m", "sent", "recipient_clerks", "sms"), ("30m", "sent", "recipient_clerks", "sms"),
            ("1h", "due", "recipient_leader", "sms")), "voice"),
    (policy(("0m", "sent", "recipient_clerks", "sms"), ("30m", "sent", "recipient_clerks", "sms"),
            ("1h", "due", "recipient_leader", "voice"), quiet={"start": "20:00", "end": "08:00"}), "quiet"),
])
def test_fewer_later_or_another_channel_or_longer_quiet_hours_is_looser(loosened, why):
    problems = policies.looser_than(loosened, DEFAULT)
    assert problems and any(why in problem for problem in problems), problems
