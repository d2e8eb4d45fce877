"""Whether a case's approval can be trusted at export time (PDF report, ``llm-viewer report``).

Three answers for an approved case (:func:`check_approval`):

- ``valid``: the fingerprint recorded when the reviewer approved (:func:`llm_viewer.core.history.record_approval`)
  matches the landmarks and the calibration now;
- ``stale``: they changed since (in the viewer without a new approval, or the case file was edited by another
  tool), or the history records a change after the approval;
- ``unverifiable``: the approval was recorded without a fingerprint (an older version of the viewer, or a tool
  that only sets the status), so a change made outside the viewer cannot be ruled out.

A report never presents a stale or unverifiable approval as valid: it says which one it is. Pure Python.
"""

from __future__ import annotations

from dataclasses import dataclass

from .casefile import Case
from .history import approval_fingerprint, stale_approval

APPROVAL_STATES: tuple[str, ...] = ("not_approved", "valid", "stale", "unverifiable")


@dataclass(frozen=True)
class ApprovalCheck:
    """The state of a case's approval and, unless it is valid or absent, why (one sentence)."""

    state: str
    message: str | None = None

    @property
    def valid(self) -> bool:
        return self.state == "valid"

    @property
    def problem(self) -> bool:
        """An approval is shown but cannot be trusted (stale or unverifiable)."""
        return self.state in ("stale", "unverifiable")

    @property
    def headline(self) -> str | None:
        """Short text for a report header, ``None`` when there is nothing to warn about."""
        if self.state == "stale":
            return "APPROVAL NOT VALID: the landmarks or the calibration changed after it was given"
        if self.state == "unverifiable":
            return "Approval not verifiable: no record of what was approved"
        return None


def check_approval(case: Case) -> ApprovalCheck:
    """Check an approved case's approval against its landmarks and calibration (see the module docstring)."""
    if case.status != "approved":
        return ApprovalCheck("not_approved")
    stale = stale_approval(case)
    if stale:
        return ApprovalCheck("stale", stale)
    review = case.review
    rec = case.get("approval") or {}
    if isinstance(rec, dict) and rec.get("fingerprint") and rec.get("at") == review.get("at") and (
            rec["fingerprint"] == approval_fingerprint(case)):
        return ApprovalCheck("valid")
    who = f"{review.get('by') or 'unknown'} at {review.get('at') or 'unknown time'}"
    return ApprovalCheck("unverifiable", f"the approval by {who} is not verifiable: it was recorded without a "
                                         "fingerprint of the approved landmarks (an older version or another tool), "
                                         "so a later change to the case file cannot be ruled out; approve it again "
                                         "in the viewer to make it verifiable")
