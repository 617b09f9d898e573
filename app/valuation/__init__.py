"""What a point is worth in CNY over time (docs/ANALYTICS.md, "Liability")."""
