"""Registry entrypoints (thin): rules in ``domain``, infrastructure in ``gongwen_common``.

Every call takes ``actor``, the caller as the gateway vouches for them (``{"user_id", "unit_code",
"roles", "proxy_user_id"?}``), and the registry decides what it may do: the directory's changes
are the operator's, a unit admin applies under its own unit and files its own contacts (not the
SMS switch) naming users whose mobiles are their accounts' in identity. ``actor`` None is the
foundation's unauthenticated path (command line, demo): it acts as ``system`` and reads what any
unit reads. Every change announces itself through the outbox in the same transaction.
"""
from gongwen_common import rpc as rpc_calls
from gongwen_common.entrypoints import rpc
from gongwen_common.idempotency import once
from gongwen_common.rpc import RpcProxy
from gongwen_common.service import ServiceBase

from . import domain


class RegistryService(ServiceBase):
    name = "registry"
    identity = RpcProxy("identity")

    def _members_with_mobiles(self, unit_code, user_ids) -> dict:
        """``{user_id: has_mobile}`` for the active users of the unit, as identity knows them."""
        return rpc_calls.call(self.identity, "members_with_mobiles", unit_code, user_ids,
                              timeout=float(self.config.get("RPC_TIMEOUT", 10)))

    @rpc
    def register_unit(self, application, idempotency_key=None, actor=None, active=False):
        """Apply (申请) for a unit; an operator may register it as ``active`` at once."""
        return once(self.db, "register_unit", idempotency_key, {"application": application, "active": active},
                    lambda: domain.register_unit(self.db, application, self.clock(), actor, active))

    @rpc
    def approve_unit(self, code, actor=None):
        return domain.approve_unit(self.db, code, self.clock(), actor)

    @rpc
    def rename_unit(self, code, request, actor=None):
        """``request``: ``{name}``."""
        return domain.rename_unit(self.db, code, request, self.clock(), actor)

    @rpc
    def revoke_unit(self, code, request, actor=None):
        """Revoke (撤销) a unit: ``request`` is the decision, ``{reason, documents, successor_code?}``
        with ``documents`` keep | transfer | archive."""
        return domain.revoke_unit(self.db, code, request, self.clock(), actor)

    @rpc
    def merge_units(self, request, actor=None, idempotency_key=None):
        """Merge (合并) units into one of them or into a new unit: ``{from_codes, into_code | new}``."""
        return once(self.db, "merge_units", idempotency_key, request,
                    lambda: domain.merge_units(self.db, request, self.clock(), actor))

    @rpc
    def set_contacts(self, code, contacts, actor=None):
        """File (备案) the unit's admin, clerks, leaders and SMS choice; identity is asked whether
        they are active users of the unit with mobiles (whoever calls)."""
        return domain.set_contacts(self.db, code, contacts, self.clock(), actor, self._members_with_mobiles)

    @rpc
    def get_unit(self, code, actor=None):
        return domain.get_unit(self.db, code, actor)

    @rpc
    def list_units(self, q=None, parent=None, limit=50, cursor=None, include_revoked=False, actor=None):
        return domain.list_units(self.db, q, parent, limit, cursor, include_revoked, actor)

    @rpc
    def resolve_units(self, codes, actor=None):
        """Up to 1,000 units by code: ``{"units": {code: unit}, "missing": [...], "inactive": [...]}``."""
        return domain.resolve_units(self.db, codes, actor)
