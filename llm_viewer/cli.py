"""The ``llm-viewer`` command.

Sub-commands live in :mod:`llm_viewer.commands`, one module each with a ``register(subparsers)``
function; they are discovered here so adding a command never edits this file. Only the standard
library is imported at start-up: torch and Qt load inside the commands that need them.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from . import __version__
from . import commands as _commands


class CommandError(Exception):
    """An error a command reports to the user as one line on stderr (exit status 2 unless given)."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every discovered sub-command."""
    parser = argparse.ArgumentParser(
        prog="llm-viewer",
        description="Lower-limb alignment on full-leg radiographs: landmarks, axes and angles of both legs.",
    )
    parser.add_argument("--version", action="version", version=f"llm-viewer {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(_commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{_commands.__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point. Returns the process exit status; never lets a traceback reach the user."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except CommandError as exc:
        print(f"llm-viewer {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"llm-viewer {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # noqa: BLE001 - last line of defence: a message, not a traceback
        if args.debug:
            raise
        print(
            f"llm-viewer {args.command}: internal error: {type(exc).__name__}: {exc} "
            "(re-run with --debug for details)",
            file=sys.stderr,
        )
        return 3


if __name__ == "__main__":  # pragma: no cover - run as the package module so CommandError is one class
    from llm_viewer.cli import main as _main

    sys.exit(_main())
