"""Points lifecycle: expiry reminders, notifications, gifts and coalition exchanges."""

from app.ledger.audit import register_checks
from app.lifecycle.audit import LIFECYCLE_CHECKS

register_checks(LIFECYCLE_CHECKS)
