"""Earning: rules as rows, purchases, refunds, events and previews (docs/EARNING.md).

Tiers (below earning) measure qualifying spend on earning's purchases: provided here
(app/hooks.py), so tiers import nothing of earning."""

from app.earning.tables import purchases
from app.tiers.service import PURCHASES

PURCHASES.provide(purchases)
