"""Reports: the surgeon's PDF and the study's CSV (no Qt, no torch)."""
