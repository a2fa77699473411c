"""Twilio's status callbacks (public, signed by Twilio) and a unit's SMS bill.

A callback is Twilio's word that a message moved on: only one signed with our auth token for the
exact URL Twilio was given (the configured public base URL, the path and our message id) and the
exact form fields is passed to notify, which checks it again where the message is. Anything else is
403 ``TWILIO_SIGNATURE_INVALID`` with a security log line, and nothing changes."""
from marshmallow import Schema, fields, validate
from twilio.request_validator import RequestValidator

from gongwen_common.errors import TwilioSignatureInvalid

from ..http import api
from ..schemas import ListQuerySchema

FORM = "application/x-www-form-urlencoded"
SMS_READERS = ("operator", "admin", "leader")
TWILIO_SIGNATURE = ({"in": "header", "name": "X-Twilio-Signature", "required": False, "schema": {"type": "string"},
                     "description": "Twilio's HMAC-SHA1 of the callback URL and form fields with the account's auth "
                                    "token (base64); missing or wrong: 403 TWILIO_SIGNATURE_INVALID"},)


class CallbackQuerySchema(Schema):
    # Not bounded here: the signature is checked first, over the URL as it came.
    message_id = fields.String(load_default=None, metadata={"description": "our message id, as given to Twilio"})


class SmsMonthQuerySchema(ListQuerySchema):
    month = fields.String(required=True, validate=validate.Regexp(r"^2\d{3}-(0[1-9]|1[0-2])$"),
                          metadata={"description": "YYYY-MM, in Asia/Shanghai", "example": "2026-12"})


class SmsItemSchema(Schema):
    id = fields.String()
    reference = fields.String(metadata={"description": "the short code in the text"})
    channel = fields.String(validate=validate.OneOf(["sms", "voice"]))
    to = fields.String(metadata={"description": "masked, e.g. +86 138****8000"})
    document_id = fields.String(allow_none=True)
    user_id = fields.String(allow_none=True)
    status = fields.String(validate=validate.OneOf(["queued", "sending", "sent", "delivered", "undelivered",
                                                    "failed"]))
    segments = fields.Integer(allow_none=True)
    price = fields.String(allow_none=True, metadata={"description": "as Twilio reports it (negative: charged)"})
    price_unit = fields.String(allow_none=True)
    error_code = fields.String(allow_none=True)
    error_message = fields.String(allow_none=True)
    attempts = fields.Integer()
    created_at = fields.DateTime()
    sent_at = fields.DateTime(allow_none=True)
    delivered_at = fields.DateTime(allow_none=True)


class SmsMonthSchema(Schema):
    unit_code = fields.String()
    month = fields.String()
    messages = fields.Integer(metadata={"description": "SMS Twilio accepted"})
    segments = fields.Integer()
    calls = fields.Integer()
    price = fields.String(allow_none=True, metadata={"description": "the sum of the prices Twilio reported"})
    price_unit = fields.String(allow_none=True)
    items = fields.List(fields.Nested(SmsItemSchema))
    next_cursor = fields.String(allow_none=True)


class TwilioRoutes:
    @api("POST", "/api/v1/twilio/messages/status", summary="Twilio's status callback for an SMS (X-Twilio-Signature)",
         tag="notifications", public=True, accepts=FORM, query=CallbackQuerySchema, status=204, errors=(403, 404, 503),
         headers=TWILIO_SIGNATURE)
    def twilio_message_status(self, request, query):
        return self.twilio_callback(request, "sms", query["message_id"])

    @api("POST", "/api/v1/twilio/calls/status", summary="Twilio's status callback for a voice call "
         "(X-Twilio-Signature)", tag="notifications", public=True, accepts=FORM, query=CallbackQuerySchema,
         status=204, errors=(403, 404, 503), headers=TWILIO_SIGNATURE)
    def twilio_call_status(self, request, query):
        return self.twilio_callback(request, "voice", query["message_id"])

    def twilio_callback(self, request, channel, message_id):
        token, base = self.config.get("TWILIO_AUTH_TOKEN"), (self.config.get("TWILIO_CALLBACK_BASE_URL") or "")
        signature = request.headers.get("X-Twilio-Signature", "")
        url = base.rstrip("/") + request.path + (f"?{request.query_string.decode()}" if request.query_string else "")
        params = request.form if request.mimetype == FORM else {}
        if not (token and base and signature and message_id and
                RequestValidator(str(token)).validate(url, params, signature)):
            raise TwilioSignatureInvalid(message="The X-Twilio-Signature does not sign this request.")
        self.call("notify", "twilio_status", channel, message_id, params.to_dict(), signature)
        return 204, None

    @api("GET", "/api/v1/units/<code>/sms", summary="A unit's SMS and calls in a month, with what Twilio charged",
         tag="notifications", response_schema=SmsMonthSchema, query=SmsMonthQuerySchema, roles=SMS_READERS,
         errors=(400, 404, 503))
    def unit_sms(self, request, code, actor, query):
        """The unit's own (its admin or leader) or any (the operator): notify's rule."""
        return 200, self.call("notify", "unit_sms", code, query["month"], actor=actor, limit=query["limit"],
                              cursor=query["cursor"])
