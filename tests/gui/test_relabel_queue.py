"""The viewer's worklist opens a relabel queue (``llm-viewer rank --out FILE.json``) in its own order."""

from __future__ import annotations

import json

import pytest

from llm_viewer.core.casefile import CaseFileError
from llm_viewer.gui.worklist import WorklistWidget, is_queue_file, scan_folder, scan_queue


def _queue(tmp_path, items) -> object:
    path = tmp_path / "queue.json"
    path.write_text(json.dumps(items))
    return path


def _images(tmp_path, names):
    for n in names:
        (tmp_path / n).write_bytes(b"\x89PNG\r\n\x1a\n")
    return [str(tmp_path / n) for n in names]


def test_queue_keeps_file_order_and_scores(tmp_path):
    a, b, c = _images(tmp_path, ["a.png", "b.png", "c.png"])
    path = _queue(tmp_path, [{"image": c, "score": 9.5, "rank": 1}, {"image": a, "score": 3.0, "rank": 2},
                             {"image": "b.png", "score": 0.1, "rank": 3}])  # relative to the queue's folder
    assert is_queue_file(path)
    entries = scan_queue(path, tmp_path / "appdata")
    assert [e.name for e in entries] == ["c.png", "a.png", "b.png"]  # not re-sorted by name
    assert [e.score for e in entries] == [9.5, 3.0, 0.1]
    assert [e.status for e in entries] == ["new", "new", "new"]
    assert entries[2].path == tmp_path / "b.png"
    assert scan_folder(path, tmp_path / "appdata") == entries  # opening the file dispatches to the queue


def test_queue_item_with_case_file_opens_through_it(tmp_path):
    (img,) = _images(tmp_path, ["x.png"])
    case = tmp_path / "x.case.json"
    case.write_text(json.dumps({"review": {"status": "corrected"}}))
    entries = scan_queue(_queue(tmp_path, [{"image": img, "score": 1.0, "case": str(case)}]), tmp_path)
    assert entries[0].path == case and entries[0].case_path == case and entries[0].status == "corrected"


def test_missing_image_is_listed_as_error(tmp_path):
    entries = scan_queue(_queue(tmp_path, [{"image": str(tmp_path / "gone.png"), "score": 2.0}]), tmp_path)
    assert entries[0].status == "error"


@pytest.mark.parametrize("doc, message", [
    ({"image": "a.png"}, "JSON list"),
    ([{"score": 1.0}], "item 1 has no 'image'"),
    ([{"image": "a.png", "score": "high"}], "no finite 'score'"),
    ([{"image": "a.png", "score": True}], "no finite 'score'"),
])
def test_bad_queue_raises_naming_the_problem(tmp_path, doc, message):
    path = tmp_path / "queue.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(CaseFileError, match=message):
        scan_queue(path, tmp_path)


def test_queue_file_detection(tmp_path):
    case = tmp_path / "a.case.json"
    case.write_text("[]")
    other = tmp_path / "settings.json"
    other.write_text('{"a": 1}')
    assert not is_queue_file(case) and not is_queue_file(other) and not is_queue_file(tmp_path)
    assert is_queue_file(_queue(tmp_path, []))


def test_widget_shows_queue_in_order_and_steps_through_it(qtbot, tmp_path):
    a, b = _images(tmp_path, ["a.png", "b.png"])
    entries = scan_queue(_queue(tmp_path, [{"image": b, "score": 5.0}, {"image": a, "score": 1.0}]), tmp_path)
    w = WorklistWidget()
    qtbot.addWidget(w)
    w.set_entries(entries)
    labels = [w.list.item(i).text() for i in range(w.list.count())]
    assert labels[0].startswith("b.png") and "score 5" in labels[0] and labels[1].startswith("a.png")
    assert w.step(1) == b and w.step(1) == a and w.step(1) is None
    w.update_status("approved", a)
    assert [e.score for e in w.entries] == [5.0, 1.0]  # status updates keep the score
    assert w.entries[1].status == "approved"


def test_main_window_serves_the_queue_most_informative_first(qtbot, make_window, tmp_path):
    from .conftest import synthetic_pixels, write_png16

    folder = tmp_path / "pool"
    folder.mkdir()
    paths = [str(write_png16(folder / n, synthetic_pixels())) for n in ("a.png", "b.png", "c.png")]
    queue = _queue(tmp_path, [{"image": paths[2], "score": 3.0}, {"image": paths[0], "score": 2.0},
                              {"image": paths[1], "score": 1.0}])
    win = make_window()
    with qtbot.waitSignal(win.ready, timeout=20000):
        win.open_path(queue)  # File > Open and `llm-viewer gui queue.json` go through open_path
    assert [e.name for e in win.worklist.entries] == ["c.png", "a.png", "b.png"]
    assert win.doc.image_path.name == "c.png"  # the most informative case opens first
    with qtbot.waitSignal(win.ready, timeout=20000):
        win.step_case(1)
    assert win.doc.image_path.name == "a.png"
