"""Delivery as the notify service runs it: one :class:`Dispatcher` per service process (its pacing and
its Twilio client are the process's), and the checks of Twilio's status callbacks."""
import logging

from nameko.extensions import DependencyProvider
from twilio.request_validator import RequestValidator

from gongwen_common.clock import utcnow
from gongwen_common.db import Database, Session
from gongwen_common.errors import TwilioSignatureInvalid  # noqa: F401 (raised by the service)

from .dispatch import Dispatcher
from .settings import DeliverySettings

log = logging.getLogger(__name__)


def signed_by_twilio(settings: DeliverySettings, channel, message_id, params, signature) -> bool:
    url = settings.callback_url(channel, message_id)
    return bool(settings.auth_token and url and signature and
                RequestValidator(settings.auth_token).validate(url, params, signature))


class Delivery(DependencyProvider):
    """Injects this process's :class:`Dispatcher` (None while Twilio is not configured)."""

    def setup(self):
        self.settings = DeliverySettings.from_config(self.container.config)
        self.dispatcher = None

    def start(self):
        if not self.settings.enabled:
            log.warning("Twilio is not configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM): "
                        "messages stay queued")
            return
        engine = next(d.engine for d in self.container.dependencies if isinstance(d, Database))
        self.dispatcher = Dispatcher(lambda: Session(engine, expire_on_commit=False), self.settings, utcnow)

    def get_dependency(self, worker_ctx):
        return self
