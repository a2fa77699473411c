"""Mobile numbers as every service keeps them: E.164, mainland China by default (000 §11)."""
import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

DEFAULT_REGION = "CN"
# A number that may be a mobile is accepted: some regions' plans cannot tell the two apart.
_MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}


def mobile_e164(raw) -> str | None:
    """The number in E.164 (+8613800138000), or None when it is not a valid mobile number."""
    try:
        number = phonenumbers.parse(raw, DEFAULT_REGION)
    except (NumberParseException, TypeError):
        return None
    if not phonenumbers.is_valid_number(number) or phonenumbers.number_type(number) not in _MOBILE_TYPES:
        return None
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def masked(e164) -> str:
    """A number as logs may show it: country code, then the national number with all but its first three and
    last four digits hidden (``+86 138****8000``; shorter numbers show two and two); anything unparsable
    is hidden whole."""
    try:
        number = phonenumbers.parse(e164, DEFAULT_REGION)
    except (NumberParseException, TypeError):
        return "***"
    national = str(number.national_number)
    if len(national) < 11:  # shorter plans than the mainland's: show less of them
        return f"+{number.country_code} {national[:2]}{'*' * (len(national) - 4)}{national[-2:]}"
    return f"+{number.country_code} {national[:3]}{'*' * (len(national) - 7)}{national[-4:]}"
