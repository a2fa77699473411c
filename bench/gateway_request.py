"""The gateway's own per-request cost, step by step, in process (issue 15), beside a bare werkzeug request.

No broker, no database: the gateway's real ``ServiceContainer`` is built but not started, so its
entrypoints, url map, keyring and config are the ones ``nameko run`` would use. Each row is timed
over ``--calls`` sequential calls after a warm-up, under eventlet's monkey patch as the gateway runs:
  floor          a bare WSGI "hello" handled by werkzeug: ``Request(environ)`` + ``Response(b"hello")``
                 called as WSGI (the least any werkzeug request costs)
  routing        ``Request(environ, shallow=True)``, the gateway's url map (``ApiServer.make_url_map`` of
                 every route) matching ``GET /api/v1/inbox?limit=50``, and reading ``request.args``
  token, first   ``Keyring.authenticate`` of an ES256 token, its verified-token cache cleared each call:
                 JWT decode and ECDSA verify
  token, cached  the same token remembered (what an office system polling with one token pays)
  query          the inbox route's ``validated_query`` (marshmallow ``InboxQuerySchema``)
  reply decode   kombu's "json" loads of an inbox page as the exchange sends it (``gongwen_common.
                 serialization`` installed, as every service does), 1 and 50 items built with the
                 exchange's own ``receipt_view``/``summary``
  JSON answer    ``json_response(200, page)`` called as WSGI, to the bytes
  log line       ``handle_request``'s ``log.info`` through the gateway's LOGGING (``config.yaml``,
                 ``JsonFormatter``) into a file, and the same call with the logger above INFO
  signature      nameko's ``check_signature`` of the inbox route's arguments (``inspect.getcallargs``)
  multipart      ``form_parts`` of the send route on the body ``gateway_load.py`` sends
                 (metadata, ~2 KB body, ~4 KB attachment)
  whole request  the real ``ApiWsgiApp`` → ``handle_request`` → route function → response bytes, with
                 the worker run inline and the RPC answered by decoding the reply's bytes: the sum of
                 the steps above as the gateway strings them together (a check on the parts)
The two sums printed under the table (a poll: routing, token remembered, query, 50-item decode and
answer, log line; a send: the same with multipart and the send's reply) are the gateway's own CPU
per request by its steps; the whole rows show what the glue between them adds.
``--profile-shares DIR`` reads py-spy profiles from ``gateway_load.py --profile`` and prints, for the
gateway's inbox and send files, the share of samples in each of these steps.
Usage: ``python bench/gateway_request.py --calls 2000``.
"""
import warnings

warnings.filterwarnings("ignore", message=r"(?s).*Eventlet is deprecated")

import argparse  # noqa: E402
import io  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections import Counter  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# The helpers live beside this file, in the other benchmarks; bench/ is not a package.
sys.path.insert(0, str(HERE))

from rpc_roundtrip import time_calls  # noqa: E402

RECEIVER = "bench-receiver"
SENDER = "bench-sender"


def no_start_response(status, headers, exc_info=None):
    return lambda data: None


def wsgi_bytes(response, environ) -> bytes:
    return b"".join(response(environ, no_start_response))


def gateway():
    """The gateway's container as ``nameko run`` builds it from its config, its HTTP entrypoints set up
    (each registers with the shared ``ApiServer``) but nothing started: no connection is made."""
    import yaml
    from nameko.cli.main import setup_yaml_parser
    from nameko.containers import ServiceContainer

    from gongwen_gateway.service import GatewayService

    setup_yaml_parser()  # the ${VAR:default} substitution of nameko's config files
    config = yaml.safe_load((ROOT / "gateway" / "config.yaml").read_text())
    container = ServiceContainer(GatewayService, config)
    entrypoints = {e.method_name: e for e in container.entrypoints if hasattr(e, "get_url_rule")}
    for entrypoint in entrypoints.values():
        entrypoint.setup()
    return container, entrypoints


def logging_to(config: dict, path: Path) -> None:
    """The gateway's LOGGING as ``nameko run`` applies it, its console handler writing to ``path``
    instead of stderr (a terminal here would measure the terminal)."""
    import logging.config

    settings = config["LOGGING"]
    settings["handlers"]["console"] = {"class": "logging.FileHandler", "formatter": "json",
                                       "filename": str(path), "encoding": "utf-8"}
    logging.config.dictConfig(settings)


def token_keyring(keyring, roles):
    """A real ES256 token and the gateway's keyring knowing its key, identity stood in for as
    ``gateway/tests/test_auth.py`` does; the keyring's clock held still so the revocations never go
    stale (no reload inside a timed call)."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec
    from jwt.algorithms import ECAlgorithm

    key, kid = ec.generate_private_key(ec.SECP256R1()), "bench-kid"
    jwks = {"keys": [{**ECAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "alg": "ES256",
                      "use": "sig"}]}
    keyring.setup()
    keyring.clock = lambda: 0.0
    keyring.fetch = lambda *, keys=True: ((jwks if keys else None), [])
    now = int(time.time())
    # identity's claims (``tokens.issue``): a clerk of the receiving unit, 15 minutes
    claims = {"sub": str(uuid.uuid4()), "username": "bench-clerk", "unit": RECEIVER, "roles": roles, "pwd": False,
              "jti": uuid.uuid4().hex, "iat": now, "exp": now + 900}
    return "Bearer " + jwt.encode(claims, key, algorithm="ES256", headers={"kid": kid})


def inbox_page(items: int) -> dict:
    """An inbox page as ``receiving.inbox`` makes it: the exchange's ``receipt_view`` and ``summary``
    of row mappings, as its Core query reads them."""
    from gongwen_exchange.domain.documents import RECEIPT_FIELDS, SUMMARY_FIELDS, receipt_view, summary

    now = datetime.now(UTC)
    rows = []
    for n in range(items):
        sent = now - timedelta(minutes=n)
        document_id = str(uuid.uuid4())
        receipt = dict.fromkeys(RECEIPT_FIELDS)
        receipt.update(id=str(uuid.uuid4()), document_id=document_id, unit_code=RECEIVER, role="main", generation=1,
                       latest=True, state="read", delivered_at=sent, due_at=sent + timedelta(days=3),
                       first_read_at=sent + timedelta(seconds=40), first_read_by=str(uuid.uuid4()),
                       print_copies_granted=2, print_copies_used=0)
        document = dict.fromkeys(SUMMARY_FIELDS)
        document.update(id=document_id, issuer_code=SENDER, doc_number=f"基准〔2026〕{n + 1}号",
                        title="关于开展电子公文交换性能基准测试的通知", urgency="normal", signer="张三", sent_at=sent,
                        status="sent")
        rows.append({**receipt_view(receipt, now), "document": summary(document)})
    return {"items": rows, "next_cursor": rows[-1]["receipt_id"] if items >= 50 else None}


def sent_reply() -> dict:
    """What ``exchange.send_document`` answers for a one-recipient send: ``document_view`` of the
    document (a transient model, as the exchange holds it) with its receipt."""
    from gongwen_exchange.domain.documents import RECEIPT_FIELDS, document_view, receipt_view
    from gongwen_exchange.models import Attachment, Document

    now = datetime.now(UTC)
    document_id = str(uuid.uuid4())
    digest = lambda text: uuid.uuid5(uuid.NAMESPACE_URL, text).hex * 2  # noqa: E731 - 64 hex digits, as sha256
    document = Document(id=document_id, issuer_code=SENDER, doc_number="载〔2026〕1-1-bench号", doc_year=2026,
                        title="关于开展电子公文交换性能基准测试的通知", signer="张三", urgency="normal",
                        metadata_json={"secrecy": "none", "main_recipients": [RECEIVER], "cc_recipients": [],
                                       "print_grants": {}},
                        manifest_sha256=digest("manifest"), seal_serial="GW2026000001", body_name="正文.html",
                        body_sha256=digest("body"), status="sent", sent_at=now, sent_by=str(uuid.uuid4()),
                        attachments=[Attachment(document_id=document_id, position=1, name="附件1.pdf",
                                                sha256=digest("attachment"), size=4040)])
    receipt = dict.fromkeys(RECEIPT_FIELDS)
    receipt.update(id=str(uuid.uuid4()), document_id=document_id, unit_code=RECEIVER, role="main", generation=1,
                   latest=True, state="delivered", delivered_at=now, due_at=now + timedelta(days=3),
                   print_copies_granted=0, print_copies_used=0)
    return {**document_view(document), "receipts": [receipt_view(receipt)]}


def send_body() -> tuple[bytes, str]:
    """The load bench's send, byte for byte (``send_request`` builds it with its ``multipart``)."""
    from gateway_load import send_request

    _, _, data, headers = send_request({"recipient": RECEIVER, "client": 0, "tag": "req"}, 1)
    return data, headers["Content-Type"]


def measure(calls: int, log_path: Path) -> tuple[dict, dict]:
    from kombu.serialization import registry
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request, Response

    from gongwen_common import serialization
    from gongwen_gateway import http

    serialization.install()  # every gongwen process does, at import of its service
    container, entrypoints = gateway()
    logging_to(container.config, log_path)
    inbox, send = entrypoints["inbox"], entrypoints["send_document"]
    keyring = inbox.keyring  # shared: the one every entrypoint of the container holds
    authorization = token_keyring(keyring, ["clerk"])
    url_map = inbox.server.make_url_map()
    rows, sizes = {}, {}

    get = EnvironBuilder(path="/api/v1/inbox", query_string="limit=50", headers={"Authorization": authorization},
                         environ_base={"REMOTE_ADDR": "10.0.0.7"}).get_environ()

    def floor():
        Request(get)
        wsgi_bytes(Response(b"hello"), get)

    rows["floor"] = time_calls(floor, calls)

    def routing():
        request = Request(get, shallow=True)
        provider, values = url_map.bind_to_environ(get).match()
        request.args.get("limit")
        assert provider is inbox
    rows["routing"] = time_calls(routing, calls)

    def token_first():
        keyring.verified.clear()
        keyring.authenticate(authorization)
    rows["token_first"] = time_calls(token_first, calls)
    rows["token_cached"] = time_calls(lambda: keyring.authenticate(authorization), calls)

    # nameko's check of the route's arguments (``inspect.getcallargs``), what handle_request does before spawning
    signature = ((Request(get),), {"actor": {"user_id": "u", "unit_code": RECEIVER, "roles": ["clerk"]},
                                   "query": {"limit": 50}})
    rows["signature"] = time_calls(lambda: inbox.check_signature(*signature), calls)

    polled = Request(EnvironBuilder(path="/api/v1/inbox", query_string="limit=50&state=delivered").get_environ())
    polled.args  # noqa: B018 - parsed once here: reading it is the routing row's
    rows["query"] = time_calls(lambda: inbox.validated_query(polled), calls)

    for items in (1, 50):
        reply = serialization.dumps(inbox_page(items))
        sizes[f"decode_{items}"] = len(reply)
        # as nameko's reply consumer decodes a message: the registry, from the body's bytes and encoding
        rows[f"decode_{items}"] = time_calls(lambda reply=reply: registry.loads(reply, "application/json", "utf-8"),
                                             calls)
        page = registry.loads(reply, "application/json", "utf-8")
        sizes[f"answer_{items}"] = len(wsgi_bytes(http.json_response(200, page), get))
        rows[f"answer_{items}"] = time_calls(lambda page=page: wsgi_bytes(http.json_response(200, page), get), calls)

    reply = serialization.dumps(sent_reply())
    sizes["decode_sent"] = len(reply)
    rows["decode_sent"] = time_calls(lambda: registry.loads(reply, "application/json", "utf-8"), calls)
    sent = registry.loads(reply, "application/json", "utf-8")
    sizes["answer_sent"] = len(wsgi_bytes(http.json_response(201, sent), get))
    rows["answer_sent"] = time_calls(lambda: wsgi_bytes(http.json_response(201, sent), get), calls)

    answered = Request(get)
    answered.path  # noqa: B018 - werkzeug caches it; handle_request has read it before it logs
    status, request_id, started = 200, uuid.uuid4().hex, time.monotonic()

    def log_line():
        # ``handle_request``'s line, call for call
        http.log.info("%s %s %s", answered.method, answered.path, status,
                      extra={"request_id": request_id, "status": status,
                             "duration_ms": round((time.monotonic() - started) * 1000, 1),
                             "remote_addr": answered.remote_addr})
    from gongwen_common.logging import set_correlation_id

    set_correlation_id(request_id)
    rows["log_on"] = time_calls(log_line, calls)
    http.log.setLevel(logging.WARNING)
    rows["log_off"] = time_calls(log_line, calls)
    http.log.setLevel(logging.NOTSET)
    set_correlation_id(None)

    body, content_type = send_body()
    sizes["multipart"] = len(body)
    post = EnvironBuilder(method="POST", path="/api/v1/documents", data=body, content_type=content_type,
                          headers={"Authorization": authorization},
                          environ_base={"REMOTE_ADDR": "10.0.0.7"}).get_environ()
    upload_limit = int(container.config.get("MAX_UPLOAD_BYTES", 62914560))

    def fresh_post():
        # a consumed input stream cannot be read again: each call its own (a dict copy and a BytesIO)
        return {**post, "wsgi.input": io.BytesIO(body)}

    def parse_send():
        request = Request(fresh_post())
        request.max_content_length = request.max_form_memory_size = upload_limit  # as handle_request sets them
        request.form_kinds = send.form
        parts = http.form_parts(request, required=("metadata", "body"), many=("attachments",))
        assert parts["attachments"] and parts["body"]
    rows["multipart"] = time_calls(parse_send, calls)

    rows["whole_inbox"], rows["whole_send"] = whole_requests(container, get, fresh_post, calls)
    return rows, sizes


def whole_requests(container, get, fresh_post, calls: int) -> tuple[dict, dict]:
    """The real WSGI app over the real entrypoints; only the worker is run inline (no greenthread is
    spawned) and the RPC answered by decoding the bytes the service would have sent."""
    from kombu.serialization import registry

    from gongwen_common import serialization

    replies = {"inbox": serialization.dumps(inbox_page(50)), "send_document": serialization.dumps(sent_reply())}
    service = container.service_cls()

    def call(service_name, method, *args, timeout=None, **kwargs):
        return registry.loads(replies[method], "application/json", "utf-8")
    service.call = call

    def spawn_worker(entrypoint, args, kwargs, context_data=None, handle_result=None):
        result = getattr(service, entrypoint.method_name)(*args, **kwargs)
        handle_result(None, result, None)
    container.spawn_worker = spawn_worker
    app = next(e for e in container.entrypoints if hasattr(e, "get_url_rule")).server.get_wsgi_app()
    statuses = Counter()

    def answer(environ):
        def start_response(status, headers, exc_info=None):
            statuses[status] += 1
        b"".join(app(environ, start_response))

    inbox = time_calls(lambda: answer(get), calls)
    send = time_calls(lambda: answer(fresh_post()), calls)
    unexpected = {s: n for s, n in statuses.items() if s not in ("200 OK", "201 CREATED")}
    if unexpected:
        raise RuntimeError(f"the whole-request rows were answered {unexpected}: they would time a refusal")
    return inbox, send


ROWS = (  # key, label
    ("floor", "floor: werkzeug Request + Response(b'hello')"),
    ("routing", "routing: shallow Request, url map, args"),
    ("token_first", "token check, first sight (ES256 verify)"),
    ("token_cached", "token check, remembered"),
    ("query", "query validation (marshmallow)"),
    ("decode_1", "RPC reply decode, inbox 1 item"),
    ("decode_50", "RPC reply decode, inbox 50 items"),
    ("decode_sent", "RPC reply decode, a send's document"),
    ("answer_1", "HTTP JSON answer, inbox 1 item"),
    ("answer_50", "HTTP JSON answer, inbox 50 items"),
    ("answer_sent", "HTTP JSON answer, a send's document"),
    ("log_on", "request log line (JSON, to a file)"),
    ("log_off", "request log line, logger above INFO"),
    ("multipart", "multipart parse of a send (form_parts)"),
    ("signature", "nameko check_signature of the route's args"),
    ("whole_inbox", "whole GET /api/v1/inbox?limit=50, RPC stubbed"),
    ("whole_send", "whole POST /api/v1/documents, RPC stubbed"),
)
POLL = ("routing", "token_cached", "query", "decode_50", "answer_50", "log_on")
SEND = ("routing", "token_cached", "multipart", "decode_sent", "answer_sent", "log_on")


def report(rows: dict, sizes: dict, calls: int) -> None:
    floor = rows["floor"]["p50"]
    print(f"\nThe gateway's own per-request steps, in process, {calls} sequential calls each, 2-core machine")
    print(f"{'step':<50}{'p50 µs':>9}{'p99 µs':>9}{'p50 ×floor':>12}  bytes")
    for key, label in ROWS:
        row = rows[key]
        print(f"{label:<50}{row['p50'] * 1000:>9.1f}{row['p99'] * 1000:>9.1f}{row['p50'] / floor:>12.1f}"
              f"  {sizes.get(key, '')}")
    for title, keys, whole in (("one poll", POLL, "whole_inbox"), ("one send", SEND, "whole_send")):
        total = sum(rows[key]["p50"] for key in keys)
        print(f"gateway's own CPU for {title} (sum of p50s: {' + '.join(keys)}): {total * 1000:.0f} µs, "
              f"{total / floor:.1f} × floor; the whole request in process: {rows[whole]['p50'] * 1000:.0f} µs, "
              f"{rows[whole]['p50'] / floor:.1f} × floor")
    print(f"(logging's cost: the log line's p50 less the disabled call's, "
          f"{(rows['log_on']['p50'] - rows['log_off']['p50']) * 1000:.1f} µs. Rows run under eventlet's monkey "
          "patch, as the gateway does. Not here: eventlet's WSGI server (HTTP parsing, socket writes), the "
          "worker's greenthread and nameko's RPC publish and reply consumer: these need a broker and are "
          "gateway_load.py's and rpc_roundtrip.py's. 'whole' is the real ApiWsgiApp with the worker run inline "
          "and the RPC answered by decoding the reply's bytes; beyond the sum it has the request id, Event, "
          "check_signature, actor_of, checked_url_values, the non-shallow Request's headers. The send's sum takes "
          "the inbox GET's routing row. bytes: the reply's or the answer's size, or the "
          "multipart body's.)")


SHARES = (  # label, does a frame ("func (file)") belong to the step
    ("gateway's handle_request (all of it)", lambda f: f.startswith("ApiEntrypoint.handle_request ")),
    ("token check (Keyring)", lambda f: f.startswith("Keyring.")),
    ("logging (logging/__init__.py, JsonFormatter)", lambda f: "logging/__init__.py" in f or "JsonFormatter" in f),
    ("JSON (serialization.py loads/dumps/response_body)", lambda f: "gongwen_common/serialization.py" in f),
    ("werkzeug multipart (formparser, multipart)", lambda f: "werkzeug/" in f and ("formparser" in f
                                                                                   or "multipart" in f)),
    ("marshmallow", lambda f: "marshmallow/" in f),
    ("RPC publish (Publisher.publish)", lambda f: f.startswith("Publisher.publish ")),
    ("RPC reply consume (drain_events)", lambda f: "drain_events" in f),
    ("socket writes (_send_loop)", lambda f: "_send_loop" in f),
)


def profile_shares(directory: Path) -> None:
    """Inclusive shares: a sample counts for a step when any frame of its stack is the step's."""
    from profile_top import stacks  # bench/profile_top.py's reading of py-spy's raw format

    for kind in ("inbox", "send"):
        for path in sorted(directory.glob(f"*-{kind}-gateway*.txt")):
            counts, total = Counter(), 0
            for samples, frames in stacks(path):
                total += samples
                for label, belongs in SHARES:
                    if any(belongs(frame) for frame in frames):
                        counts[label] += samples
            print(f"\n{path.name}: {total} samples (the gateway process, idle hub included; handle_request is the "
                  "HTTP greenthread's part: the route function runs in the worker's)")
            for label, _ in SHARES:
                print(f"  {100 * counts[label] / max(total, 1):5.1f} %  {label}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--profile-shares", metavar="DIR", help="py-spy profiles of gateway_load.py --profile: "
                                                                "print the steps' shares of the gateway's samples")
    args = parser.parse_args()

    import eventlet

    # Before the project's modules: their thread-locals (the correlation id) are greenlet-locals in the gateway.
    eventlet.monkey_patch()
    with tempfile.TemporaryDirectory(prefix="gongwen-bench-request-") as work:
        rows, sizes = measure(args.calls, Path(work) / "gateway.log")
        logging.shutdown()
    report(rows, sizes, args.calls)
    if args.profile_shares:
        profile_shares(Path(args.profile_shares))


if __name__ == "__main__":
    sys.exit(main())
