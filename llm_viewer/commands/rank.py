"""``llm-viewer rank POOL... --models DIR``: rank unlabelled images by how much a label would teach the model.

Writes a relabel queue, most informative first: a JSON list of ``{"image", "score", "strategy", "rank",
["case"], "details"}`` (``score``: higher = more informative). ``llm-viewer gui QUEUE.json`` opens it as the
worklist in that order. See ``docs/ACTIVE_LEARNING.md``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "rank",
        help="rank unlabelled radiographs by model uncertainty into a relabel queue (active learning)",
        description="Score every image of POOL (image files, folders searched recursively, or a training-set "
        "store) with an uncertainty strategy of the model bundle and write them most informative first. "
        "Strategies: random, sgr-disagreement (regressed point vs its own segmentation map), tta (landmark "
        "spread under test-time views), metric-spread (HKA/mLDFA/mMPTA spread under them), combined.",
    )
    p.add_argument("pool", nargs="+", metavar="POOL", help="image files, folders or a store folder")
    p.add_argument("--models", metavar="DIR", default=None,
                   help="model bundle folder (default: the bundled demo model in resources/models/demo)")
    p.add_argument("--strategy", default="combined", help="scoring strategy (default combined)")
    p.add_argument("--top", type=int, default=None, metavar="K", help="keep only the K most informative images")
    p.add_argument("--out", metavar="FILE", default=None,
                   help="write the queue (JSON list) to FILE; default: stdout")
    p.add_argument("--seed", type=int, default=0, help="seed of the random strategy (default 0)")
    p.add_argument("--diversity", type=float, default=0.0, metavar="LAMBDA",
                   help="0-1: push images nearly identical to one already queued down the queue (default 0)")
    p.add_argument("--device", default="cpu", help="cpu (default), auto, cuda, cuda:N or mps")
    p.add_argument("--no-refine", action="store_true", help="ignore the bundle's refinement stage")
    p.add_argument("--quiet", action="store_true", help="no per-image progress on stderr")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..cli import CommandError

    if args.top is not None and args.top < 1:
        raise CommandError(f"--top must be at least 1, got {args.top}")
    if not 0.0 <= args.diversity <= 1.0:
        raise CommandError(f"--diversity must be between 0 and 1, got {args.diversity}")
    from ..pipeline.active import STRATEGIES, get_strategy

    if args.strategy not in STRATEGIES:
        raise CommandError(f"unknown strategy {args.strategy!r}; expected one of {', '.join(sorted(STRATEGIES))}")
    strategy = get_strategy(args.strategy, seed=args.seed)
    from ..pipeline.active.ranking import collect_pool, queue_json, rank_pool, stderr_log

    items, errors = collect_pool(args.pool)
    for msg in errors:
        print(f"llm-viewer rank: {msg}", file=sys.stderr)
    if not items:
        raise CommandError("the pool holds no images")
    if args.out:
        out_dir = Path(args.out).resolve().parent
        if not out_dir.is_dir():
            raise CommandError(f"--out {args.out}: folder {out_dir} does not exist")

    from ..pipeline.active.tta import UncertaintyAnalyzer
    from ..pipeline.bundle import BundleError

    try:
        analyzer = UncertaintyAnalyzer.from_bundle(args.models, device=args.device, refine=not args.no_refine)
    except (BundleError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    outcome = rank_pool(items, analyzer, strategy, top=args.top,
                        log=None if args.quiet else stderr_log, diversity=args.diversity)
    for msg in outcome.skipped:
        print(f"llm-viewer rank: {msg}", file=sys.stderr)
    if not outcome.ranked:
        raise CommandError("no image of the pool could be analysed")
    text = queue_json(outcome.ranked)
    if args.out:
        from ..core.atomic import atomic_write_text

        atomic_write_text(Path(args.out), text)
        print(f"rank: wrote {len(outcome.ranked)} image(s) to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 1 if (errors or outcome.skipped) else 0
