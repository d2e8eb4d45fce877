"""Sub-commands of ``llm-viewer``; each module defines ``register(subparsers)``.

Modules here must import only the standard library at top level so that ``llm-viewer`` starts fast;
heavy imports (torch, Qt) happen inside the command's run function.
"""
