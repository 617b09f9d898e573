"""Engagement: daily sign-in streaks, tasks and challenges, teams, badges, referrals, win-back.

Purchases and events reach engagement through earning's hooks, registered here (app/hooks.py):
earning sits below engagement and imports none of it. Engagement's audit checks join the
ledger's audit the same way."""

from app.earning.hooks import EVENT_RECORDED, PURCHASE_RECORDED, PURCHASE_RIDES
from app.engagement.audit import ENGAGEMENT_CHECKS
from app.engagement.hooks import event_recorded, purchase_recorded, purchase_ride
from app.ledger.audit import register_checks

PURCHASE_RECORDED.register(purchase_recorded)
PURCHASE_RIDES.provide(purchase_ride)  # its progress read rides on the purchase's credit
EVENT_RECORDED.register(event_recorded)
register_checks(ENGAGEMENT_CHECKS)
