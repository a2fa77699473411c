"""``python -m gongwen_local run``: the whole suite on loopback, stopped by Ctrl-C.

Starts a project-local RabbitMQ node under ``var/rabbitmq`` (with ``--rabbit-nodes N``, a cluster
of N nodes under ``var/rabbitmq-cluster``, every node's URI given to the services, which fail over)
(and, with ``--postgres``, a project-local PostgreSQL cluster under ``var/postgres``), migrates each service's database,
declares every queue, runs each service as its own ``nameko run`` process and the gateway,
waits until ``/api/v1/health`` is 200 and prints where everything listens.
"""
import argparse
import logging
import os
import signal
import socket
import sys
import time
import warnings
from pathlib import Path

from gongwen_fake_twilio.launcher import FakeTwilioProcess

from . import backup, rekey
from .demo import describe, ensure_demo
from .keks import local_keks
from .ports import free_port
from .postgres import PostgresCluster
from .rabbitmq import RabbitCluster, RabbitNode
from .stack import ROOT, SERVICES, Stack


def _scale(values):
    scale = {}
    for item in values:
        name, _, count = item.partition("=")
        if name not in SERVICES or not count.isdigit() or int(count) < 1:
            raise argparse.ArgumentTypeError(f"--scale wants SERVICE=N with SERVICE in {', '.join(SERVICES)}")
        scale[name] = int(count)
    return scale


def _port_or_any(port):
    """``port`` if it is free, else one the OS picks (another suite may hold it)."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return 0
    return port


def _describe_nodes(nodes):
    return "\n".join(f"  RabbitMQ node  {n.node}  amqp 127.0.0.1:{n.amqp_port}  UI {n.mgmt_url}" for n in nodes)


def _interrupt(signum, frame):
    raise KeyboardInterrupt  # SIGTERM stops the suite the same way Ctrl-C does


def _log_supervision():
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    supervisor = logging.getLogger("gongwen_local.supervisor")
    supervisor.addHandler(handler)
    supervisor.setLevel(logging.INFO)
    supervisor.propagate = False


def main(argv=None):
    # nameko is imported later (migrations, topology); its eventlet notice is not for operators
    warnings.filterwarnings("ignore", message=r"(?s).*Eventlet is deprecated")
    parser = argparse.ArgumentParser(prog="gongwen_local")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start the suite and keep it running until Ctrl-C")
    run.add_argument("--var", default=os.environ.get("GONGWEN_VAR", str(ROOT / "var")))
    run.add_argument("--gateway-port", type=int, default=int(os.environ.get("GATEWAY_PORT", 8080)))
    run.add_argument("--amqp-port", type=int, default=int(os.environ.get("AMQP_PORT", 5673)))
    run.add_argument("--management-port", type=int, default=int(os.environ.get("RABBITMQ_MANAGEMENT_PORT", 15673)))
    run.add_argument("--rabbit-nodes", type=int, default=int(os.environ.get("RABBIT_NODES", 1)), metavar="N",
                     help="a RabbitMQ cluster of N nodes on loopback (3 keeps every queue through the loss of one)")
    run.add_argument("--postgres", action="store_true", help="PostgreSQL instead of the embedded SQLite")
    run.add_argument("--postgres-port", type=int, default=int(os.environ.get("POSTGRES_PORT", 5433)))
    run.add_argument("--scale", nargs="*", default=[], metavar="SERVICE=N",
                     help="run several instances of a service, e.g. --scale exchange=3")
    run.add_argument("--twilio-port", type=int, default=int(os.environ.get("FAKE_TWILIO_PORT", 8088)),
                     help="the fake Twilio's port (taken when free), unless TWILIO_ACCOUNT_SID names a real account")
    backup.add_commands(sub, run.get_default("var"))
    rekey.add_command(sub)
    args = parser.parse_args(argv)
    if args.command in ("backup", "restore"):
        return backup.main(args.command, args)
    if args.command == "rekey":
        return rekey.main(args)
    try:
        scale = _scale(args.scale)
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    if args.rabbit_nodes < 1:
        parser.error("--rabbit-nodes wants 1 or more")

    var = os.path.abspath(args.var)
    _log_supervision()
    signal.signal(signal.SIGTERM, _interrupt)

    if args.rabbit_nodes > 1:  # the first node on the usual ports, the others where the OS says
        rabbit = RabbitCluster(os.path.join(var, "rabbitmq-cluster"), args.rabbit_nodes, node_name="gongwen",
                               amqp_ports=[args.amqp_port] + [None] * (args.rabbit_nodes - 1),
                               mgmt_ports=[args.management_port] + [None] * (args.rabbit_nodes - 1))
    else:
        rabbit = RabbitNode(os.path.join(var, "rabbitmq"), node_name="gongwen", amqp_port=args.amqp_port,
                            dist_port=free_port(), mgmt_port=args.management_port)
    rabbit_nodes = getattr(rabbit, "nodes", [rabbit])
    postgres = PostgresCluster(os.path.join(var, "postgres"), port=args.postgres_port) if args.postgres else None
    stack = twilio = None
    try:
        if not os.environ.get("TWILIO_ACCOUNT_SID"):  # no real Twilio account: the fake, with its phones page
            twilio = FakeTwilioProcess(Path(var) / "log" / "fake-twilio.log",
                                       port=_port_or_any(args.twilio_port)).start()
        print(f"starting RabbitMQ on 127.0.0.1:{', '.join(str(n.amqp_port) for n in rabbit_nodes)} …", flush=True)
        rabbit.start()
        if postgres:
            postgres.start()
            for name in SERVICES:
                postgres.create_database(f"gongwen_{name}")
            databases = {name: postgres.url(f"gongwen_{name}") for name in SERVICES}
        else:
            databases = backup.sqlite_urls(var)
        stack = Stack(rabbit.amqp_uri(), databases, args.gateway_port, Path(var) / "log",
                      scale=scale, env={**local_keks(Path(var)), **(twilio.env if twilio else {})})
        print("starting services …", flush=True)
        stack.start()
        stack.write_scrape_targets(Path(var) / "prometheus-targets.json")
        demo = ensure_demo(rabbit.amqp_uri(), stack.gateway_url, Path(var))
        print(f"""
Gongwen is running.
  gateway        {stack.gateway_url}/api/v1/health
  API docs       {stack.gateway_url}/api/v1/docs   (OpenAPI: {stack.gateway_url}/api/v1/openapi.json)
  RabbitMQ UI    {rabbit.mgmt_url}   user guest / password guest (loopback only)
{_describe_nodes(rabbit_nodes)}
  databases      {f'PostgreSQL on 127.0.0.1:{args.postgres_port}' if postgres else var + '/db/*.sqlite3'}
  phones (SMS)   {twilio.phones_url if twilio else 'real Twilio (TWILIO_ACCOUNT_SID is set)'}
  SMS links      {os.environ.get('NOTIFY_LINK_BASE_URL') or stack.gateway_url + '/l/'}<code>  (→ the document)
  service logs   {var}/log/
  metrics        {var}/prometheus-targets.json (each process's /metrics, as Prometheus file_sd)
{describe(demo)}
                 all of this is in {var}/demo/accounts.json
  CLI            . .venv/bin/activate; gongwen -h   (GONGWEN_GATEWAY={stack.gateway_url})
Ctrl-C stops everything this started.""", flush=True)
        # supervised as systemd would (Restart=on-failure with backoff): one JSON line on stderr
        # per exit, restart or give-up; an operator's Ctrl-C or SIGTERM stops everything instead
        while True:
            stack.supervise()
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nstopping …", flush=True)
        return 0
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if stack:
            stack.stop()
        if postgres:
            postgres.stop()
        if twilio:
            twilio.stop()
        rabbit.stop()


if __name__ == "__main__":
    sys.exit(main())
