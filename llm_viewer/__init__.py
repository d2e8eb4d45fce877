"""llm-viewer: lower-limb alignment assessment on full-leg radiographs."""

__version__ = "0.1.0"
