"""Active learning: per-image uncertainty scores, strategies behind one interface, relabel-queue ranking.

See ``docs/ACTIVE_LEARNING.md``. ``strategies`` is pure numpy over engine results; ``tta`` runs the engine.
"""

from .expected import ExpectedErrorStrategy, diverse_order, expected_error_deg, image_descriptor  # registers it
from .strategies import (
    COMBINED_MM_PER_DEG,
    MISSING_PENALTY_MM,
    NO_LEG_SCORE,
    STRATEGIES,
    TTA_METRICS,
    VIEWS,
    CombinedStrategy,
    ImageEvidence,
    MetricSpreadStrategy,
    RandomStrategy,
    RankedImage,
    ScoreBreakdown,
    SGRDisagreementStrategy,
    Strategy,
    TTAResult,
    TTAStrategy,
    breakdown,
    get_strategy,
    landmark_disagreement,
    rank_scores,
    register_strategy,
)

__all__ = [
    "COMBINED_MM_PER_DEG", "MISSING_PENALTY_MM", "NO_LEG_SCORE", "STRATEGIES", "TTA_METRICS", "VIEWS",
    "CombinedStrategy", "ImageEvidence", "MetricSpreadStrategy", "RandomStrategy", "RankedImage", "ScoreBreakdown",
    "SGRDisagreementStrategy", "Strategy", "TTAResult", "TTAStrategy", "breakdown", "get_strategy",
    "landmark_disagreement", "rank_scores", "register_strategy", "UncertaintyAnalyzer",
    "ExpectedErrorStrategy", "diverse_order", "expected_error_deg", "image_descriptor",
]


def __getattr__(name: str):
    if name == "UncertaintyAnalyzer":
        from .tta import UncertaintyAnalyzer

        return UncertaintyAnalyzer
    raise AttributeError(name)
