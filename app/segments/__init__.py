"""Segments: each member's RFM scores and named segment (champions, loyal, at risk…),
recomputed by a job over the ledger, with the history of each member's changes."""
