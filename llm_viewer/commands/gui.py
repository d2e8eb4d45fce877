"""``llm-viewer gui [PATH] [--demo] [--screenshot OUT.png]``: the review application."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "gui",
        help="open the review application (radiograph, landmarks, axes, angles; correction and approval)",
        description="Open the viewer on an image, a case file or a folder of cases. Without PATH the last "
        "case reopens with every correction (cases are autosaved after each change).",
    )
    p.add_argument("path", nargs="?", help="radiograph (DICOM/PNG/JPEG/TIFF), .case.json file, or a folder")
    p.add_argument("--demo", action="store_true", help="open the bundled synthetic case and run the model on it")
    p.add_argument("--screenshot", metavar="OUT.png",
                   help="save the window as a PNG once the analysis has finished, then exit")
    p.add_argument("--no-analyze", action="store_true", help="do not run the model when opening")
    p.add_argument("--size", metavar="WxH", help="window size, e.g. 1600x1000 (useful with --screenshot)")
    p.set_defaults(func=run)


def _parse_size(text: str | None) -> tuple[int, int] | None:
    from ..cli import CommandError

    if not text:
        return None
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise CommandError(f"--size must look like 1600x1000, got {text!r}") from None
    if not (200 <= w <= 10000 and 200 <= h <= 10000):
        raise CommandError(f"--size {text}: width and height must be between 200 and 10000")
    return (w, h)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..cli import CommandError

    if args.path and args.demo:
        raise CommandError("give either PATH or --demo, not both")
    if args.path and not Path(args.path).exists():
        raise CommandError(f"{args.path}: no such file or folder")
    if args.screenshot and not args.screenshot.lower().endswith(".png"):
        raise CommandError(f"--screenshot {args.screenshot}: the file name must end in .png")
    size = _parse_size(args.size)
    if getattr(args, "debug", False):  # background jobs print their tracebacks only then
        import os

        os.environ["LLM_VIEWER_DEBUG"] = "1"
    try:
        from ..gui.app import run_gui
        from ..gui.demo import DemoError
    except ImportError as exc:  # PySide6/pyqtgraph missing or no display libraries
        raise CommandError(f"the viewer cannot start: {exc}") from None
    try:
        return run_gui(args.path, demo=args.demo, screenshot=args.screenshot,
                       analyze=False if args.no_analyze else None, size=size)
    except DemoError as exc:
        raise CommandError(str(exc)) from None
