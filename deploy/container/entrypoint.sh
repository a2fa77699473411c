#!/bin/sh
# The image's entrypoint.
#   gongwen-service SERVICE    migrate SERVICE's own database to head, then `nameko run` it (exec:
#                              the runtime's SIGTERM reaches nameko, which finishes its workers and exits)
#   gongwen-service fake-twilio
#                              for demos only: the fake Twilio server on port 8090 (TWILIO_ACCOUNT_SID and
#                              TWILIO_AUTH_TOKEN are the account it accepts)
#   gongwen-service declare-queues
#                              declare every queue (quorum queues with dead-lettering) and exit: what
#                              `make run` does before any service starts (gongwen_local/stack.py), so an
#                              event published before its consumer first ran is kept
# Settings come from the environment only (AMQP_URI, DATABASE_URL, the KEKs, ...): nothing secret is in
# the image. GONGWEN_ROOT: where the source tree with each service's config.yaml is (/app in the image).
set -eu
root="${GONGWEN_ROOT:-/app}"

usage="usage: gongwen-service SERVICE | declare-queues | fake-twilio   (SERVICE: registry identity seal exchange notify archive gateway)"

case "${1:-}" in
  declare-queues)
    exec python -c 'import os
from gongwen_common import topology
from gongwen_local.stack import SERVICES, service_class
print("declared", len(topology.declare_all(os.environ["AMQP_URI"], [service_class(n) for n in SERVICES])), "queues")'
    ;;
  fake-twilio)
    exec python -m gongwen_fake_twilio --host 0.0.0.0 --port 8090 --account-sid "$TWILIO_ACCOUNT_SID" \
      --auth-token "$TWILIO_AUTH_TOKEN"
    ;;
  registry) package=gongwen_registry; folder=services/registry; class=RegistryService ;;
  identity) package=gongwen_identity; folder=services/identity; class=IdentityService ;;
  seal)     package=gongwen_seal;     folder=services/seal;     class=SealService ;;
  exchange) package=gongwen_exchange; folder=services/exchange; class=ExchangeService ;;
  notify)   package=gongwen_notify;   folder=services/notify;   class=NotifyService ;;
  archive)  package=gongwen_archive;  folder=services/archive;  class=ArchiveService ;;
  gateway)  package=gongwen_gateway;  folder=gateway;           class=GatewayService ;;
  *) echo "$usage" >&2; exit 64 ;;
esac

# The gateway has no database. Replicas starting at once queue here on the service's migration lock
# (a PostgreSQL advisory lock, gongwen_common.migrate.migration_lock): one runs each revision, the
# others then find the head already there.
if [ "$1" != gateway ]; then
  python -m gongwen_common.migrate "$package"
fi
exec python -m nameko run --config "$root/$folder/config.yaml" "$package.service:$class"
