"""The gateway service: HTTP in, RPC out. Thin: parsing at the edge, rules in the services.

One nameko service, ``gateway``, composed of one route class per area (``routes/``); nameko
collects the entrypoints of every base class. Here: its dependencies and the RPC with a deadline."""
from nameko.dependency_providers import Config

from gongwen_common import rpc
from gongwen_common.health import Heartbeat
from gongwen_common.logging import CorrelationId
from gongwen_common.metrics import Metrics
from gongwen_common.rpc import RpcProxy
from gongwen_common.shutdown import ShutdownBound

from .auth import Revocations
from .routes.admin import AdminRoutes
from .routes.archive import ArchiveRoutes
from .routes.auth import AuthRoutes
from .routes.documents import DocumentRoutes
from .routes.links import LinkRoutes
from .routes.notify import NotifyRoutes
from .routes.seals import SealRoutes
from .routes.supervision import SupervisionRoutes
from .routes.system import SystemRoutes
from .routes.twilio import TwilioRoutes
from .routes.units import UnitRoutes
from .routes.users import UserRoutes


class GatewayService(SystemRoutes, AuthRoutes, UnitRoutes, UserRoutes, SealRoutes, DocumentRoutes,
                     SupervisionRoutes, AdminRoutes, ArchiveRoutes, TwilioRoutes, NotifyRoutes, LinkRoutes):
    name = "gateway"

    config = Config()
    correlation_id = CorrelationId()
    shutdown_bound = ShutdownBound()  # SIGTERM: graceful stop, within SHUTDOWN_TIMEOUT
    heartbeat = Heartbeat()  # liveness: ``probe gateway --live`` and make run's supervisor read its age
    registry = RpcProxy("registry")
    identity = RpcProxy("identity")
    seal = RpcProxy("seal")
    exchange = RpcProxy("exchange")
    notify = RpcProxy("notify")
    archive = RpcProxy("archive")
    revocations = Revocations()
    metrics = Metrics()

    def call(self, service, method, *args, timeout=None, **kwargs):
        """An RPC with a deadline (``gongwen_common.rpc``): the first hop's, the longest of the chain;
        every service it reaches waits less on its own calls."""
        return rpc.call(getattr(self, service), method, *args,
                        timeout=timeout or float(self.config.get("RPC_TIMEOUT", 10)), **kwargs)
