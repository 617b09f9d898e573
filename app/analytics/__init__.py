"""Analytics: programme-wide figures (KPIs, liability) from rollups of the ledger's facts."""
