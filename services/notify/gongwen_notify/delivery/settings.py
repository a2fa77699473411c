"""Delivery's settings, from the service's config (``config.yaml``, itself from the environment).

Nothing but these differs between the fake Twilio of ``make run`` and the tests, and Twilio itself."""
import os
from dataclasses import dataclass


def _get(config, name, default):
    value = config.get(name, os.environ.get(name))
    return default if value in (None, "") else value


@dataclass(frozen=True)
class DeliverySettings:
    account_sid: str = ""
    auth_token: str = ""
    sender: str = ""                  # TWILIO_FROM: an E.164 number …
    messaging_service_sid: str = ""   # … or TWILIO_MESSAGING_SERVICE_SID (one of the two)
    api_base_url: str = ""            # empty: Twilio's own (https://api.twilio.com)
    callback_base_url: str = ""       # the gateway as Twilio reaches it (public, https for Twilio)
    timeout: float = 10.0             # seconds for one Twilio API call; longer is an ambiguous failure
    send_rate: float = 10.0           # creates per second per sender, per notify instance
    batch: int = 100
    concurrency: int = 8
    lease: float = 120.0
    max_attempts: int = 8
    retry_base: float = 5.0
    retry_max: float = 900.0
    reconcile_after: float = 600.0
    price_after: float = 60.0         # a final message's price is fetched this long after (callbacks have none)

    @classmethod
    def from_config(cls, config) -> "DeliverySettings":
        return cls(
            account_sid=_get(config, "TWILIO_ACCOUNT_SID", ""), auth_token=_get(config, "TWILIO_AUTH_TOKEN", ""),
            sender=_get(config, "TWILIO_FROM", ""),
            messaging_service_sid=_get(config, "TWILIO_MESSAGING_SERVICE_SID", ""),
            api_base_url=_get(config, "TWILIO_API_BASE_URL", "").rstrip("/"),
            callback_base_url=_get(config, "TWILIO_CALLBACK_BASE_URL", "").rstrip("/"),
            timeout=float(_get(config, "TWILIO_TIMEOUT", cls.timeout)),
            send_rate=float(_get(config, "SMS_SEND_RATE", cls.send_rate)),
            batch=int(_get(config, "DELIVERY_BATCH", cls.batch)),
            concurrency=int(_get(config, "DELIVERY_CONCURRENCY", cls.concurrency)),
            lease=float(_get(config, "DELIVERY_LEASE", cls.lease)),
            max_attempts=int(_get(config, "DELIVERY_MAX_ATTEMPTS", cls.max_attempts)),
            retry_base=float(_get(config, "DELIVERY_RETRY_BASE", cls.retry_base)),
            retry_max=float(_get(config, "DELIVERY_RETRY_MAX", cls.retry_max)),
            reconcile_after=float(_get(config, "DELIVERY_RECONCILE_AFTER", cls.reconcile_after)),
            price_after=float(_get(config, "DELIVERY_PRICE_AFTER", cls.price_after)),
        )

    @property
    def enabled(self) -> bool:
        return bool(self.account_sid and self.auth_token and (self.sender or self.messaging_service_sid))

    def callback_url(self, channel: str, message_id: str) -> str | None:
        """Where Twilio posts this message's status: our id in the URL (signed with it, so it cannot be
        swapped), on the gateway's public routes."""
        if not self.callback_base_url:
            return None
        kind = "messages" if channel == "sms" else "calls"
        return f"{self.callback_base_url}/api/v1/twilio/{kind}/status?message_id={message_id}"
