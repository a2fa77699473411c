"""A gateway's event consumer that lost its broker connection reloads the revocations once it
is back (issue 9, item 4): the broadcast queue is not durable, so what identity sent meanwhile
is gone. Real RabbitMQ; identity is a stub behind the keyring's ``fetch``."""
import uuid
from urllib.parse import quote

import requests
from nameko.containers import ServiceContainer
from nameko.events import BROADCAST

from conftest import wait_until
from gongwen_gateway.auth import Keyring, Revocations, revocation_handler


class RevocationListener:
    name = "revocation_listener"
    revocations = Revocations()

    @revocation_handler("identity", "token_revoked", handler_type=BROADCAST, reliable_delivery=False)
    def on_token_revoked(self, envelope):
        self.revocations.revoke(envelope["data"]["jti"], envelope["data"]["expires_at"])


def connections(rabbit, vhost):
    reply = requests.get(f"{rabbit.mgmt_url}/api/vhosts/{quote(vhost, safe='')}/connections",
                         auth=("guest", "guest"), timeout=10)
    reply.raise_for_status()
    return [c["name"] for c in reply.json()]


def test_a_reconnected_gateway_reloads_the_revocations_it_may_have_missed(rabbit):
    vhost = f"reconnect-{uuid.uuid4().hex[:6]}"
    rabbit.add_vhost(vhost)
    # No regular reload during the test: only the reconnection may bring the revocation.
    config = {"AMQP_URI": rabbit.amqp_uri(vhost), "REVOCATION_RELOAD_SECONDS": 3600}
    container = ServiceContainer(RevocationListener, config)
    container.start()
    try:
        keyring = container.shared_extensions[Keyring]
        missed = {"jti": uuid.uuid4().hex, "expires_at": "2099-01-01T00:00:00+00:00"}
        identity = []
        keyring.fetch = lambda keys=True: (None, list(identity))
        keyring.loaded_at = keyring.revocations_loaded_at = keyring.clock()  # started and loaded earlier
        identity.append(missed)  # revoked in identity; its broadcast never reaches this gateway

        names = wait_until(lambda: connections(rabbit, vhost), timeout=30, message="the consumer's connection")
        for name in names:
            requests.delete(f"{rabbit.mgmt_url}/api/connections/{quote(name, safe='')}", auth=("guest", "guest"),
                            timeout=10).raise_for_status()
        wait_until(lambda: missed["jti"] in keyring.revoked, timeout=60, message="the revocations to be reloaded")
    finally:
        container.stop()
        rabbit.delete_vhost(vhost)
