"""Members: registration, channel refs, status; the keys from outside claimed across members.

The claims' audit check joins the ledger's audit here (app/ledger/audit.py's registry)."""

from app.ledger.audit import register_checks
from app.members.claims import CLAIM_CHECKS

register_checks(CLAIM_CHECKS)
