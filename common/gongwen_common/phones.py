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
