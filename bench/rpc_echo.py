"""Echo services for ``rpc_roundtrip.py``'s breakdown: the same method, no database, under nameko's
own ``rpc`` and under the suite's (``gongwen_common.entrypoints.rpc``), so the difference between
rows is the entrypoint. Run by the benchmark as ``nameko run --broker URI rpc_echo``."""
from nameko.rpc import rpc as nameko_rpc

from gongwen_common.entrypoints import rpc


class StockEcho:
    """nameko's ``rpc``: a classic request queue; nameko's reply (encoded twice, confirmed)."""
    name = "bench_echo_stock"

    @nameko_rpc
    def echo(self, value):
        return value


class SuiteEcho:
    """The suite's ``rpc``: a quorum request queue, the commit step, the one log line, ``Reply``."""
    name = "bench_echo_suite"

    @rpc
    def echo(self, value):
        return value
