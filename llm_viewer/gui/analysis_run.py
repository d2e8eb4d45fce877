"""Running the model on the open case from the main window, and saying whose numbers are shown.

The run is a worker (:func:`llm_viewer.gui.analysis.run_analysis`); reviewed points are never replaced by the
model's: its positions for them become proposals (:meth:`llm_viewer.gui.document.Document.apply_analysis`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .analysis import AnalysisOutcome, run_analysis
from .worker import Worker

if TYPE_CHECKING:
    from .mainwindow import MainWindow

SOURCE_WORDS = {"ground_truth": "ground truth of the case", "model": "model's values",
                "manual": "values of points placed or corrected by hand", "imported": "imported values"}


class AnalysisRunner:
    """``MainWindow.start_analysis`` and ``shown_source``; the worker is ``win.analysis_worker`` while it runs.

    ``running_note`` says, while the model runs, whose values are shown (the status bar repeats it).
    """

    def __init__(self, win: MainWindow) -> None:
        self.win = win
        self.running_note = ""

    def start(self, *, accept_model: bool = False) -> Worker | None:
        """Run the model on the open image in a worker (see ``MainWindow.start_analysis``)."""
        win = self.win
        if not win.doc.is_open or win.analysis_worker is not None:
            return None
        worker = Worker(run_analysis, win.engines, win.doc.image.pixels)
        win.analysis_worker = worker
        case_path = win.doc.case_path
        worker.signals.progress.connect(win._progress)
        worker.signals.result.connect(lambda out: self._on_analysis(out, case_path, accept_model))
        worker.signals.error.connect(lambda msg: win.show_message("error", f"Analysis failed: {msg}"))
        worker.signals.cancelled.connect(lambda: win.show_message("info", "Analysis cancelled"))
        worker.signals.finished.connect(self._on_finished)
        win._busy(True)
        shown = win.shown_source()
        if shown:  # while the model runs, say whose numbers these are and what happens to them
            if accept_model:
                win.show_message("info", f"The model is running. The numbers shown now are the {shown}; when the "
                                         "model finishes (about 25 s on a CPU) its landmarks and numbers replace "
                                         "them, and Ctrl+Z shows these again.")
            else:
                win.show_message("info", f"The model is running. The numbers shown are the {shown}; nothing is "
                                         "replaced without your choice.")
        self.running_note = f"the values shown are the {shown}" if shown else ""
        win.status_label.setText("model running" + (f": {self.running_note}" if shown else ""))
        return win.pool.start(worker)

    def shown_source(self) -> str | None:
        """Whose landmarks the view shows now, in words ("ground truth of the case", "model's (fake-1)"...)."""
        doc = self.win.doc
        if not doc.is_open:
            return None
        sources = {str(doc.provenance(s, lm).get("source") or "unknown")
                   for s in doc.case.sides for lm in doc.case.landmarks(s)}
        if not sources:
            return None
        if len(sources) == 1:
            return SOURCE_WORDS.get(next(iter(sources)), f"{next(iter(sources))} values")
        return "values of " + ", ".join(sorted(s.replace("_", " ") for s in sources)) + " points"

    def _on_analysis(self, outcome: AnalysisOutcome, case_path: Path | None, accept_model: bool = False) -> None:
        win = self.win
        if case_path != win.doc.case_path:  # another case was opened meanwhile
            return
        if outcome.no_model:
            win.show_message("warning", f"{outcome.no_model}: showing stored landmarks. Place missing landmarks "
                                        "by hand: select one in the Landmarks list, then click on the image.")
            return
        warnings = win.doc.apply_analysis(outcome.result)
        if win.doc.last_analysis.get("placed"):  # model points replaced: earlier steps no longer apply
            win.undo_stack.clear()
        r = outcome.result
        msg = f"model {getattr(r, 'model_id', '?')} on {getattr(r, 'device', '?')}"
        win.device_label.setText(str(getattr(r, "device", "?")).split(":")[0].upper())
        if warnings:
            win.show_message("warning", "Analysis: " + "; ".join(warnings))
        n = len(win.doc.proposals)
        if n and accept_model:
            kept = win.doc.case.status
            win.decide_proposals(accept=True, every=True)
            win.show_message("info", f"Now showing the model's landmarks and numbers ({msg}); the case's own "
                                     f"{kept} points (the ground truth of the demo) are one Ctrl+Z away.")
        elif n:
            kept = "approved points" if win.doc.case.status == "approved" else "reviewed points"
            win.show_message("info", f"The model proposes new positions for {n} {kept} (hollow circles); nothing "
                                     "was changed. A / D: accept / reject the selected point's proposal, "
                                     "Shift+A / Shift+D: all of them (undoable). The approval stays until you "
                                     "accept a change.")
        todo = n and not accept_model
        if not warnings and not n and "model is running" in win.banner.text:
            # nothing else was said: the "model is running" note must not outlive the run
            win.show_message("info", f"The model finished ({msg}); the landmarks and numbers shown are the "
                                     f"{win.shown_source() or 'model values'}.")
        win.status_label.setText(f"analysis finished ({msg})" + (f", {n} proposal(s) to review" if todo else ""))

    def _on_finished(self) -> None:
        win = self.win
        win.analysis_worker = None
        win._busy(False)
        win.ready.emit()
