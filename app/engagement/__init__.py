"""Engagement: daily sign-in streaks, tasks and challenges, teams, badges, referrals, win-back.

Purchases and events reach engagement through earning's hooks, registered here (app/hooks.py):
earning sits below engagement and imports none of it."""

from app.earning.hooks import EVENT_RECORDED, PURCHASE_RECORDED
from app.engagement.hooks import event_recorded, purchase_recorded

PURCHASE_RECORDED.register(purchase_recorded)
EVENT_RECORDED.register(event_recorded)
