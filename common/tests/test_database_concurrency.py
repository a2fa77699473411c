"""psycopg2 stays cooperative under eventlet: slow queries of concurrent workers overlap."""
import time

from nameko.containers import ServiceContainer
from nameko.standalone.rpc import ClusterRpcProxy
from sqlalchemy import create_engine, text

from gongwen_common.db import Database
from gongwen_common.entrypoints import rpc
from gongwen_common.tables import InfraBase


class SlowQueries:
    name = "slow_queries"
    db = Database()

    @rpc
    def sleep(self, seconds):
        self.db.execute(text("SELECT pg_sleep(:s)"), {"s": seconds})
        return seconds


def test_four_one_second_queries_take_about_one_second(rabbit, postgres):
    rabbit.add_vhost("concurrency")
    postgres.create_database("concurrency")
    url = postgres.url("concurrency")
    InfraBase.metadata.create_all(create_engine(url))
    config = {"AMQP_URI": rabbit.amqp_uri("concurrency"), "DATABASE_URL": url, "max_workers": 10}
    container = ServiceContainer(SlowQueries, config)
    container.start()
    try:
        with ClusterRpcProxy(config) as cluster:
            cluster.slow_queries.sleep(0)  # warm up the pool
            started = time.monotonic()
            replies = [cluster.slow_queries.sleep.call_async(1) for _ in range(4)]
            assert [reply.result() for reply in replies] == [1, 1, 1, 1]
            elapsed = time.monotonic() - started
    finally:
        container.stop()
    assert elapsed < 2.0, f"4 concurrent pg_sleep(1) took {elapsed:.2f}s: the worker pool is blocked"
