"""Face detectors and the one detection rule (bounded cost, original pixels out)."""
