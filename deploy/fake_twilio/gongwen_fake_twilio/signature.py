"""``X-Twilio-Signature`` as Twilio computes it, written from Twilio's description (not imported
from the client, so the tests check the two against each other): base64 of HMAC-SHA1, keyed with
the auth token, over the full callback URL followed by each POST parameter's name and value,
sorted by name."""
import base64
import hashlib
import hmac


def twilio_signature(auth_token: str, url: str, params: dict) -> str:
    text = url + "".join(f"{name}{params[name]}" for name in sorted(params))
    digest = hmac.new(auth_token.encode("utf-8"), text.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")
