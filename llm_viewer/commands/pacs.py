"""``llm-viewer pacs echo|find|get|send|config``: the PACS client on the command line.

The node comes from the settings file the viewer shares (``<config dir>/llm-viewer/pacs.json``, see
:mod:`llm_viewer.pacs.node`); ``--host``/``--port``/``--aet``/``--calling-aet``/``--timeout-s`` override it for
one call. Network failures are one line on stderr (exit 2); ``send`` exits 1 when a file was refused.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def _node_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("node (overrides the settings file for this call)")
    g.add_argument("--settings", metavar="FILE", default=None,
                   help="PACS settings file (default: $LLM_VIEWER_PACS_SETTINGS or <config dir>/llm-viewer/pacs.json)")
    g.add_argument("--host", default=None, help="the node's host name or IP address")
    g.add_argument("--port", type=int, default=None, help="the node's DICOM port")
    g.add_argument("--aet", default=None, help="the node's (called) AE title")
    g.add_argument("--calling-aet", default=None, help="our AE title (default LLMVIEWER)")
    g.add_argument("--timeout-s", type=float, default=None, help="connection and answer timeout in seconds")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "pacs", help="query, retrieve from and send to a PACS (C-ECHO, C-FIND, C-GET/C-MOVE, C-STORE)",
        description="Talk to a DICOM node: check it (echo), find studies (C-FIND, Study Root), retrieve a study "
                    "into a folder (C-GET, or C-MOVE with a move destination), send files (C-STORE), and store "
                    "the node's settings (config) for these commands and the viewer.")
    sub = p.add_subparsers(dest="pacs_command", metavar="ACTION", required=True)
    e = sub.add_parser("echo", help="C-ECHO the node (is it there, does it accept us?)")
    _node_options(e)
    f = sub.add_parser("find", help="find studies (C-FIND); prints a table or JSON")
    f.add_argument("--patient-id", default=None)
    f.add_argument("--patient-name", default=None, help="wildcards * and ? allowed, e.g. 'DOE^*'")
    f.add_argument("--date", default=None, help="study date YYYYMMDD or range YYYYMMDD-YYYYMMDD")
    f.add_argument("--modality", default=None, help="modality in study, e.g. DX or CR")
    f.add_argument("--accession", default=None)
    f.add_argument("--study-uid", default=None, help="one study")
    f.add_argument("--series", action="store_true", help="also list each study's series")
    f.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _node_options(f)
    g = sub.add_parser("get", help="retrieve a study into a folder (C-GET, or C-MOVE with --move)")
    g.add_argument("study_uid", metavar="STUDY_UID")
    g.add_argument("--out", required=True, help="folder receiving <SOP Instance UID>.dcm files (created)")
    g.add_argument("--move", action="store_true", help="use C-MOVE to the configured move destination")
    g.add_argument("--move-aet", default=None, help="C-MOVE destination AE title (known to the node)")
    g.add_argument("--move-port", type=int, default=None, help="local port of our storage SCP for C-MOVE")
    _node_options(g)
    s = sub.add_parser("send", help="send DICOM files (C-STORE); folders are searched for files")
    s.add_argument("files", nargs="+", metavar="FILE")
    _node_options(s)
    c = sub.add_parser("config", help="show or change the stored node (changes are validated, then saved)")
    c.add_argument("--tls", dest="tls", action="store_true", default=None, help="use TLS")
    c.add_argument("--no-tls", dest="tls", action="store_false", help="do not use TLS")
    c.add_argument("--tls-ca", default=None, help="CA bundle (PEM) that verifies the node")
    c.add_argument("--tls-cert", default=None, help="our certificate (PEM)")
    c.add_argument("--tls-key", default=None, help="our private key (PEM)")
    c.add_argument("--move-aet", default=None, help="C-MOVE destination AE title")
    c.add_argument("--move-port", type=int, default=None, help="local port of our storage SCP for C-MOVE")
    c.add_argument("--retrieve", choices=("C-GET", "C-MOVE"), default=None, help="default retrieve method")
    c.add_argument("--json", action="store_true", help="print the settings as JSON")
    _node_options(c)
    p.set_defaults(func=run)


def _load(args: argparse.Namespace) -> Any:
    """The node of the settings file with the command line's overrides, or a CommandError saying what is missing."""
    from ..cli import CommandError
    from ..pacs import PacsNode, PacsSettingsError, load_node, pacs_settings_file

    path = Path(args.settings) if args.settings else pacs_settings_file()
    over = {"host": args.host, "port": args.port, "ae_title": args.aet, "calling_ae_title": args.calling_aet,
            "timeout_s": args.timeout_s}
    try:
        node = load_node(path)
        if node is None:
            if not (args.host and args.port and args.aet):
                raise CommandError(f"no PACS node configured ({path} does not exist): store one with "
                                   "'llm-viewer pacs config --aet AE --host HOST --port PORT', or pass "
                                   "--aet, --host and --port")
            return PacsNode(**{k: v for k, v in over.items() if v is not None}), path
        return node.with_overrides(**over), path
    except PacsSettingsError as exc:
        raise CommandError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    from ..cli import CommandError
    from ..pacs import PacsError

    action = {"echo": _echo, "find": _find, "get": _get, "send": _send, "config": _config}[args.pacs_command]
    try:
        return action(args)
    except PacsError as exc:
        raise CommandError(str(exc)) from None


def _echo(args: argparse.Namespace) -> int:
    from ..pacs import echo

    node, _ = _load(args)
    rtt_s = echo(node)
    print(f"{node.label}: C-ECHO ok ({rtt_s * 1000:.0f} ms, calling AE {node.calling_ae_title}"
          f"{', TLS' if node.tls.enabled else ''})")
    return 0


def _find(args: argparse.Namespace) -> int:
    from ..pacs import find_series, find_studies

    node, _ = _load(args)
    studies = find_studies(node, patient_id=args.patient_id, patient_name=args.patient_name, study_date=args.date,
                           modality=args.modality, accession=args.accession, study_uid=args.study_uid)
    series = {s.study_instance_uid: find_series(node, s.study_instance_uid) for s in studies} if args.series else {}
    if args.json:
        doc = [dict(s.as_dict(), **({"series": [x.as_dict() for x in series[s.study_instance_uid]]}
                                    if args.series else {})) for s in studies]
        print(json.dumps(doc, indent=1))
        return 0
    if not studies:
        print(f"{node.label}: no study matches")
        return 0
    cols = ("patient_id", "patient_name", "study_date", "modalities", "n_instances", "accession_number",
            "study_description", "study_instance_uid")
    heads = ("Patient ID", "Name", "Date", "Mod.", "Inst.", "Accession", "Description", "Study UID")
    rows = [[_cell(s.as_dict()[c]) for c in cols] for s in studies]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(heads)]
    print("  ".join(h.ljust(w) for h, w in zip(heads, widths)).rstrip())
    for s, r in zip(studies, rows):
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())
        for x in series.get(s.study_instance_uid, []):
            print(f"    series {x.series_number if x.series_number is not None else '-'} {x.modality or '-'} "
                  f"{x.n_instances if x.n_instances is not None else '?'} inst. {x.series_description or ''} "
                  f"{x.series_instance_uid}")
    print(f"{len(studies)} stud{'y' if len(studies) == 1 else 'ies'} on {node.label}")
    return 0


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return "\\".join(value) or "-"
    return str(value)


def _get(args: argparse.Namespace) -> int:
    from ..pacs import retrieve_study

    node, _ = _load(args)
    if args.move_aet or args.move_port:
        node = node.with_overrides(move_ae_title=args.move_aet, move_port=args.move_port)
    method = "C-MOVE" if args.move else None

    def progress(fraction: float, message: str) -> None:
        if sys.stderr.isatty():
            sys.stderr.write(f"\r{message} ({fraction * 100:.0f} %)   ")
            sys.stderr.flush()

    result = retrieve_study(node, args.study_uid, args.out, progress=progress, method=method)
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    for w in result.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(f"{len(result.paths)} instance(s) of study {result.study_instance_uid} written to {result.dest_dir} "
          f"({result.method} from {node.label})")
    return 0


def _expand(files: list[str]) -> list[Path]:
    out: list[Path] = []
    for raw in files:
        p = Path(raw)
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith(".")))
        else:
            out.append(p)
    return out


def _send(args: argparse.Namespace) -> int:
    from ..cli import CommandError
    from ..pacs import send_files

    node, _ = _load(args)
    paths = _expand(args.files)
    if not paths:
        raise CommandError("no files to send (the folders given are empty)")
    result = send_files(node, paths)
    for item in result.items:
        print(("ok      " if item.ok else "REFUSED ") + item.message, file=sys.stdout if item.ok else sys.stderr)
    print(f"{result.n_sent} of {len(result.items)} file(s) stored on {node.label}")
    return 0 if result.ok else 1


def _config(args: argparse.Namespace) -> int:
    from ..cli import CommandError
    from ..pacs import PacsNode, PacsSettingsError, TlsFiles, load_node, pacs_settings_file, save_node

    path = Path(args.settings) if args.settings else pacs_settings_file()
    try:
        node = load_node(path)
    except PacsSettingsError as exc:
        raise CommandError(f"{exc} (fix or delete the file)") from None
    changes = {"host": args.host, "port": args.port, "ae_title": args.aet, "calling_ae_title": args.calling_aet,
               "timeout_s": args.timeout_s, "move_ae_title": args.move_aet, "move_port": args.move_port,
               "retrieve_method": args.retrieve}
    tls_changes = {"enabled": args.tls, "ca_path": args.tls_ca, "cert_path": args.tls_cert, "key_path": args.tls_key}
    changed = any(v is not None for v in (*changes.values(), *tls_changes.values()))
    try:
        if changed:
            base = node.as_dict() if node is not None else {}
            base.update({k: v for k, v in changes.items() if v is not None})
            tls = dict(base.get("tls") or {})
            tls.update({k: (v or None) if k != "enabled" else v for k, v in tls_changes.items() if v is not None})
            base["tls"] = TlsFiles(**tls) if tls else TlsFiles()
            if not all(base.get(k) for k in ("ae_title", "host", "port")):
                raise CommandError("a new PACS node needs --aet, --host and --port")
            node = PacsNode(**base)
            save_node(node, path)
    except PacsSettingsError as exc:
        raise CommandError(str(exc)) from None
    if node is None:
        print(f"no PACS node configured ({path} does not exist); set one with --aet, --host and --port")
        return 0
    if args.json:
        print(json.dumps(dict(node.as_dict(), settings_file=str(path)), indent=1))
    else:
        t = node.tls
        print(f"settings file: {path}{' (saved)' if changed else ''}")
        print(f"node: {node.label}  calling AE: {node.calling_ae_title}  timeout: {node.timeout_s:g} s")
        print(f"retrieve: {node.retrieve_method}" + (f"  move destination: {node.move_ae_title} port {node.move_port}"
                                                      if node.move_ae_title else ""))
        print("TLS: " + (f"on (CA {t.ca_path or 'system'}, certificate {t.cert_path or '-'}, key {t.key_path or '-'})"
                         if t.enabled else "off"))
    return 0
