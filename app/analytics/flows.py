"""What each ledger entry is, as analytics counts it: one flow per entry.

The flow comes from the entry alone (its kind, sign, details and reference, as the domains
write them) and, for a reversal, from the entry it reverses; so the projector and the rebuild
classify with the same SQL and agree by construction. Flows (docs/ANALYTICS.md):

- ``issued:<source>``: points given to members — purchase, behaviour, sign_in, task, referral,
  win_back, campaign (a segment bonus campaign), lottery_prize, bank_prize (a prize paid from
  the points bank's pool of expired points, docs/BANK.md), exchange_in, gift (received from
  another member), adjustment (positive staff correction), other (points awarded through the
  API by staff or a partner);
- ``redeemed:<use>``: points members used — mall, checkout, donation, lottery (draws, and
  tickets bought with expiring points), gift (sent), exchange_out, other;
- ``expired``; ``reversed:clawback`` (a credit taken back, e.g. a refund) and
  ``reversed:return`` (a debit given back, e.g. a returned order); ``adjusted:out`` (negative
  staff correction);
- ``members:new`` and ``signins``: no points, counted as facts (a sign-in's ``points`` is the
  streak it reached, so the mean streak is points / facts).
"""

from __future__ import annotations

MEMBER_REGISTERED = "member.registered"
SIGNED_IN = "signin.checked_in"

ISSUED_SOURCES = (
    "purchase",
    "behaviour",
    "sign_in",
    "task",
    "referral",
    "win_back",
    "campaign",
    "lottery_prize",
    "exchange_in",
    "gift",
    "adjustment",
    "other",
)
REDEEMED_USES = ("mall", "checkout", "donation", "lottery", "gift", "exchange_out", "other")
EXPIRED = "expired"
CLAWED_BACK = "reversed:clawback"
RETURNED = "reversed:return"
ADJUSTED_OUT = "adjusted:out"
NEW_MEMBERS = "members:new"
SIGNINS = "signins"

# Entries that make their member active on that day (system and staff moves do not).
ACTIVE_KINDS = ("earn", "spend", "gift_sent", "exchange_in", "exchange_out")

# The flow of entry ``e``, a row of the ledger's reporting JOURNAL (app/ledger/reporting.py).
FLOW_SQL = """
CASE
  WHEN e.kind = 'earn' THEN 'issued:' || CASE
    WHEN e.details ? 'engagement' THEN CASE e.details ->> 'engagement'
      WHEN 'checkin' THEN 'sign_in' WHEN 'task' THEN 'task' WHEN 'team' THEN 'task'
      WHEN 'referral' THEN 'referral' WHEN 'winback' THEN 'win_back' ELSE 'other' END
    WHEN e.details ? 'segment_campaign' THEN 'campaign'
    WHEN e.details ? 'event_id' THEN 'behaviour'
    WHEN e.details ? 'rules' THEN 'purchase'
    WHEN e.reference LIKE 'lottery-draw:%' THEN 'lottery_prize'
    WHEN e.reference = 'bank:prize' THEN 'bank_prize'
    ELSE 'other' END
  WHEN e.kind = 'exchange_in' THEN 'issued:exchange_in'
  WHEN e.kind = 'gift_received' THEN 'issued:gift'
  WHEN e.kind = 'adjustment' AND e.amount > 0 THEN 'issued:adjustment'
  WHEN e.kind = 'adjustment' THEN 'adjusted:out'
  WHEN e.kind = 'spend' THEN 'redeemed:' || CASE
    WHEN e.reference LIKE 'mall-order:%' THEN 'mall'
    WHEN e.reference LIKE 'checkout:%' THEN 'checkout'
    WHEN e.reference LIKE 'charity:%' THEN 'donation'
    WHEN e.reference LIKE 'lottery-draw:%' THEN 'lottery'
    WHEN e.reference LIKE 'bank:lottery:%' THEN 'lottery'
    ELSE 'other' END
  WHEN e.kind = 'gift_sent' THEN 'redeemed:gift'
  WHEN e.kind = 'exchange_out' THEN 'redeemed:exchange_out'
  WHEN e.kind = 'expiry' THEN 'expired'
  WHEN e.kind = 'reversal' AND e.reversed_entry_amount > 0 THEN 'reversed:clawback'
  WHEN e.kind = 'reversal' THEN 'reversed:return'
  ELSE 'other'
END
"""
