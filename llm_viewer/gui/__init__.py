"""The review application (PySide6 + pyqtgraph)."""
