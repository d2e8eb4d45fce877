"""``llm-viewer plan CASE``: simulate an osteotomy (HTO / DFO, Miniaci method) on a case's landmarks."""

from __future__ import annotations

import argparse
import json

METHOD_CHOICES = ("hto_open_medial", "hto_close_lateral", "dfo_open_lateral", "dfo_close_medial")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "plan",
        help="plan a knee osteotomy (HTO or DFO) on a case: correction angle, wedge height, post-op metrics",
        description="Simulate a high tibial or distal femoral osteotomy with the Miniaci method: the distal "
        "fragment turns about the hinge until the mechanical axis meets the target. Without --hinge / "
        "--cut-start the leg's stored plan (same method) or the default points are used.",
    )
    p.add_argument("case", help="case file (.case.json)")
    p.add_argument("--side", choices=("right", "left"), help="leg (needed when the case has both)")
    p.add_argument("--method", choices=METHOD_CHOICES,
                   help="osteotomy (default: the stored plan's, else hto_open_medial for a varus knee "
                        "(HKA < 180), dfo_open_lateral for a valgus one)")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--target-wbl", type=float, metavar="PCT",
                        help="target weight-bearing-line ratio in %% of the plateau from medial (default: "
                             "62.5, Fujisawa, for an HTO; 50 for a DFO)")
    target.add_argument("--target-hka", type=float, metavar="DEG",
                        help="target HKA in degrees as in ALIGNMENT.md (180 straight, < 180 varus); a value "
                             "between -30 and 30 is read as the deviation from straight (0 = 180°, +2 = 182° "
                             "valgus)")
    p.add_argument("--hinge", type=float, nargs=2, metavar=("X", "Y"), help="hinge point, image pixels")
    p.add_argument("--cut-start", type=float, nargs=2, metavar=("X", "Y"),
                   help="start of the osteotomy line on the far cortex, image pixels")
    p.add_argument("--save", action="store_true", help="store the plan in the case file (with a history entry)")
    p.add_argument("--by", help="who plans (history); default: the login name")
    p.add_argument("--json", action="store_true", help="print the plan as JSON (the case file's plan object)")
    p.set_defaults(func=run)


def _login_name() -> str | None:
    import getpass

    try:
        return getpass.getuser() or None
    except Exception:  # noqa: BLE001 - no login name in some containers: the history then says null
        return None


def _hka_target(value: float) -> float:
    return 180.0 + value if -30.0 <= value <= 30.0 else value


def _fmt(value: object, unit: str) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.1f}{unit}"
    return str(value)


def format_plan(plan, result) -> str:
    """The human-readable report of one simulated plan."""
    from ..core.metrics import METRIC_KEYS, METRIC_LABELS
    from ..core.planning import METHOD_LABELS

    lines = [f"{plan.side} leg: {METHOD_LABELS[plan.method]} ({plan.id}), target {plan.target.text()}",
             f"hinge [{plan.hinge_px[0]:.1f}, {plan.hinge_px[1]:.1f}] px, "
             f"cut start [{plan.cut_start_px[0]:.1f}, {plan.cut_start_px[1]:.1f}] px",
             f"correction angle   {result.correction_deg:.2f}°",
             "wedge height       " + (f"{result.wedge_height_mm:.1f} mm" if result.wedge_height_mm is not None
                                      else "n/a (needs the pixel spacing)"),
             "osteotomy length   " + (f"{result.osteotomy_length_mm:.1f} mm" if result.osteotomy_length_mm is not None
                                      else "n/a (needs the pixel spacing)"),
             "", f"{'metric':<16}{'pre-op':>12}{'post-op':>12}"]
    for key in METRIC_KEYS:
        unit = "°" if key.endswith("_deg") else (" mm" if key.endswith("_mm") else (" %" if key.endswith("_pct") else ""))
        lines.append(f"{METRIC_LABELS[key]:<16}{_fmt(result.pre.get(key), unit):>12}{_fmt(result.post.get(key), unit):>12}")
    lines += [f"note: {n}" for n in result.notes]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from ..cli import CommandError
    from ..core.casefile import CaseFileError, load_case, save_case
    from ..core.landmarks import LandmarkError
    from ..core.metrics import GeometryError
    from ..core.planning import PlanError, PlanTarget, default_plan, default_target, simulate, suggest_method
    from ..core.planning_store import plan_for_side, save_plan

    try:
        case = load_case(args.case)
    except CaseFileError as exc:
        raise CommandError(str(exc)) from None
    sides = [s for s in case.sides if case.landmarks(s)]
    side = args.side
    if side is None:
        if len(sides) != 1:
            raise CommandError(f"the case has {'both legs' if len(sides) > 1 else 'no landmarks'}: "
                               "choose one with --side right|left" if sides else f"{args.case}: the case has no landmarks")
        side = sides[0]
    if side not in sides:
        raise CommandError(f"{args.case}: the case has no landmarks of the {side} leg")
    lms = case.landmarks(side)
    spacing = case.pixel_spacing_mm
    try:
        stored = plan_for_side(case, side)
        method = args.method or (stored.method if stored is not None else None)
        if method is None:
            method = suggest_method(lms, side, spacing)
        if args.target_wbl is not None:
            target = PlanTarget("wbl_ratio_pct", args.target_wbl)
        elif args.target_hka is not None:
            target = PlanTarget("hka_deg", _hka_target(args.target_hka))
        else:
            target = stored.target if stored is not None and stored.method == method else default_target(method)
        if stored is not None and stored.method == method:
            plan = stored.with_changes(target=target)
        else:
            plan = default_plan(lms, side, method, spacing, target=target)
        if args.hinge is not None:
            plan = plan.with_changes(hinge_px=tuple(args.hinge))
        if args.cut_start is not None:
            plan = plan.with_changes(cut_start_px=tuple(args.cut_start))
        result = simulate(plan, lms, side, spacing)
    except (PlanError, LandmarkError, GeometryError) as exc:
        raise CommandError(str(exc)) from None
    plan = plan.with_changes(result=result)
    if args.save:
        plan = save_plan(case, plan, by=args.by or _login_name())
        try:
            save_case(case, args.case)
        except OSError as exc:
            raise CommandError(f"cannot write {args.case}: {exc.strerror or exc}") from None
    if args.json:
        print(json.dumps(plan.as_dict(), indent=1))
    else:
        print(format_plan(plan, result))
        if args.save:
            print(f"saved {plan.id} in {args.case}")
    return 0
