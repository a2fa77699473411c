"""Ports picked for a stack before anything binds them are never the same twice (a metrics server
once took the port chosen for its stack's gateway, whose health check then read Prometheus text)."""
from gongwen_local.ports import free_port


def test_ports_handed_out_by_one_process_are_never_the_same_twice():
    ports = [free_port() for _ in range(2000)]
    assert len(set(ports)) == len(ports)
