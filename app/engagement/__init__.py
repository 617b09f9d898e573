"""Engagement: daily sign-in streaks, tasks and challenges, teams, badges, referrals, win-back.

Purchases and events reach engagement through earning's hooks, registered here (app/hooks.py):
earning sits below engagement and imports none of it. Engagement's audit checks join the
ledger's audit the same way."""

from app.earning.hooks import EVENT_RECORDED, PURCHASE_RECORDED
from app.engagement.audit import ENGAGEMENT_CHECKS
from app.engagement.hooks import event_recorded, purchase_recorded
from app.ledger.audit import register_checks

PURCHASE_RECORDED.register(purchase_recorded)
EVENT_RECORDED.register(event_recorded)
register_checks(ENGAGEMENT_CHECKS)
