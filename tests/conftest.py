"""Shared test helpers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# A fixed de-identification key: exports are reproducible and no key file is written in the user's home.
os.environ.setdefault("LLM_VIEWER_DEID_KEY", "llm-viewer-tests")

REPO = Path(__file__).resolve().parents[1]
SPEC_DIR_CANDIDATES = (REPO / "shared" / "spec", REPO.parent / "shared" / "spec", REPO / "tests" / "data" / "spec")


def _spec_dir() -> Path:
    for d in SPEC_DIR_CANDIDATES:
        if (d / "alignment_examples.json").exists():
            return d
    raise FileNotFoundError("alignment_examples.json not found")


@pytest.fixture(scope="session")
def alignment_examples() -> list[dict]:
    return json.loads((_spec_dir() / "alignment_examples.json").read_text())["cases"]
