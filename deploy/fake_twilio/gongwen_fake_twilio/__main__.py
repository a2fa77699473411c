"""``python -m gongwen_fake_twilio --port P --account-sid AC… --auth-token T [--rate N]``: serve until
stopped; prints ``listening on http://127.0.0.1:P`` once it accepts connections."""
import argparse
import logging
import signal
import sys

from .server import Settings, serve


def main(argv=None):
    parser = argparse.ArgumentParser(prog="gongwen_fake_twilio")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--account-sid", required=True)
    parser.add_argument("--auth-token", required=True)
    parser.add_argument("--rate", type=float, default=None, help="creates per second per sender (429 beyond)")
    parser.add_argument("--burst", type=float, default=None)
    parser.add_argument("--sent-delay", type=float, default=0.05)
    parser.add_argument("--final-delay", type=float, default=0.15)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    server, _ = serve(args.account_sid, args.auth_token, args.host, args.port,
                      Settings(rate=args.rate, burst=args.burst, sent_delay=args.sent_delay,
                               final_delay=args.final_delay))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"listening on http://{args.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
