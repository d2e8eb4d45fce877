"""Entry point of the frozen application (PyInstaller): ``llm-viewer`` with the viewer as the default command.

Started from a desktop menu or by double-clicking a file, the app gets no sub-command: ``llm-viewer``
alone opens the viewer and ``llm-viewer FILE`` opens FILE in it. Every other command line
(``llm-viewer analyze ...``, ``llm-viewer --version``) is the normal CLI.
"""

from __future__ import annotations

import multiprocessing
import sys

CLI_OPTIONS = {"-h", "--help", "--version", "--debug"}


def frozen_argv(argv: list[str], commands: set[str]) -> list[str]:
    """``argv`` (without the program) with ``gui`` inserted when no sub-command is given."""
    if not argv:
        return ["gui"]
    i = 0
    while i < len(argv) and argv[i] == "--debug":  # global option before the command
        i += 1
    if i < len(argv) and (argv[i] in commands or argv[i] in CLI_OPTIONS):
        return argv
    return [*argv[:i], "gui", *argv[i:]]


def main() -> int:
    multiprocessing.freeze_support()
    from llm_viewer.cli import build_parser
    from llm_viewer.cli import main as cli_main

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")  # noqa: SLF001 - argparse has no public API
    return cli_main(frozen_argv(sys.argv[1:], set(sub.choices)))


if __name__ == "__main__":
    sys.exit(main())
