"""Mobile numbers in logs and events show the country code, the first three and the last four digits."""
from gongwen_common.phones import masked, mobile_e164


def test_a_mobile_number_is_masked_as_logs_may_show_it():
    assert masked("+8613800138000") == "+86 138****8000"
    assert masked(mobile_e164("138 0013 8000")) == "+86 138****8000"


def test_shorter_numbers_show_less_and_garbage_shows_nothing():
    assert masked("+85261234567") == "+852 61****67"
    assert masked(None) == masked("not a number") == "***"
