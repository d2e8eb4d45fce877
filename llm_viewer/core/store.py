"""The training-set store: one folder layout that the generator writes, the viewer exports corrected
cases into, and the trainer reads. See ``docs/STORE.md``.

Layout::

    STORE/store.json                      format, version, split fractions
    STORE/manifest.jsonl                  append-only, one JSON object per line (one per case version)
    STORE/images/<id><suffix>             the image (DICOM for synthetic cases)
    STORE/cases/<id>.case.json            the case file; image.path is "../images/<id><suffix>"
    STORE/masks/<id>_<name>.png           masks, e.g. <id>_diaphysis_right.png (8-bit or 1-bit PNG)

Crash safety: every file is written atomically (temp file, fsync, rename) *before* its manifest line is
appended (one ``write`` of a complete line, flush, fsync, under an exclusive lock). A crash therefore
leaves either no line (the files are orphans, ignored and reported) or a complete line. A torn last
line (power loss during the append) is skipped by readers and cut off before the next append. For an id
the last valid line wins. Only numpy, pydicom and the standard library are used here.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .atomic import atomic_write_bytes, atomic_write_json, sweep_temp
from .casefile import CASE_SUFFIX, Case, CaseFileError, sha256_file, utc_now

STORE_FORMAT = "llm-viewer-store"
STORE_VERSION = 1
SPLITS: tuple[str, ...] = ("train", "val", "test")
SOURCES: tuple[str, ...] = ("synthetic", "export", "import")
MANIFEST = "manifest.jsonl"
STORE_JSON = "store.json"
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


WRITER_LOCK = ".writer.lock"
"""Lock file in the store root: one writer (a ``synth`` run, an import, an export) at a time."""


class StoreError(ValueError):
    """A store cannot be created, opened or written; the message names the folder and the problem."""


class StoreBusyError(StoreError):
    """Another process is writing the store (it holds the writer lock)."""


@dataclass(frozen=True)
class StoreEntry:
    """One case of the store, as its manifest line records it (paths relative to the store root)."""

    id: str
    split: str
    source: str
    image: str
    image_sha256: str
    case: str
    case_sha256: str
    masks: dict[str, dict[str, str]]
    created: str
    sides: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        d = {"id": self.id, "split": self.split, "source": self.source, "image": self.image,
             "image_sha256": self.image_sha256, "case": self.case, "case_sha256": self.case_sha256,
             "masks": self.masks, "created": self.created, "sides": list(self.sides)}
        d.update(self.extra)
        return d


@dataclass(frozen=True)
class VerifyReport:
    """Result of :meth:`Store.verify`: good entries and every problem found."""

    ok: tuple[str, ...]
    problems: tuple[str, ...]
    torn_lines: int
    orphans: tuple[str, ...]
    reviewed_in_place: tuple[str, ...] = ()
    """Ids whose case file was edited after it was added (a review in the viewer): not a problem, as long
    as the case file is valid and still names the stored image."""

    @property
    def is_ok(self) -> bool:
        return not self.problems and self.torn_lines == 0


def split_for_id(case_id: str, fractions: Mapping[str, float]) -> str:
    """Deterministic split of an id: a hash of the id, cut at the cumulative fractions."""
    h = int(hashlib.sha256(case_id.encode("utf-8")).hexdigest()[:12], 16) / float(1 << 48)
    acc = 0.0
    for name in SPLITS:
        acc += float(fractions.get(name, 0.0))
        if h < acc:
            return name
    return SPLITS[-1]


def _check_id(case_id: str) -> None:
    if not isinstance(case_id, str) or not _ID_RE.match(case_id):
        raise StoreError(f"invalid case id {case_id!r}: use 1-128 letters, digits, '.', '_' or '-'")


def _sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Store:
    """A training-set store folder (see the module docstring). Use :meth:`create` or :meth:`open`."""

    def __init__(self, root: Path, info: dict[str, Any]) -> None:
        self.root = root
        self.info = info
        self._writer_fd: int | None = None
        self._writer_depth = 0

    # ------------------------------------------------------------------ writer lock
    @contextlib.contextmanager
    def writing(self, *, timeout_s: float = 30.0) -> Iterator[Store]:
        """Hold the store's writer lock (re-entrant within this object) for a block of writes.

        Two writers on one store (two ``synth`` runs, or a run and an export) would both append the same
        ids. The lock is an advisory ``flock`` on ``STORE/.writer.lock``, released when the process ends,
        so a killed writer never leaves the store locked.

        Parameters
        ----------
        timeout_s : float
            How long to wait for another writer to finish; ``0`` refuses at once.

        Raises
        ------
        StoreBusyError
            Another process still holds the lock after ``timeout_s``; the message names it.
        """
        if self._writer_depth:
            self._writer_depth += 1
            try:
                yield self
            finally:
                self._writer_depth -= 1
            return
        path = self.root / WRITER_LOCK
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + max(0.0, timeout_s)
            while not _try_lock(fd):
                if time.monotonic() >= deadline:
                    try:
                        holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
                    except OSError:
                        holder = ""
                    raise StoreBusyError(
                        f"{self.root}: another process is writing this store ({holder or 'unknown process'}); "
                        "wait for it to finish, or write to another store")
                time.sleep(0.1)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} since {utc_now()}\n".encode(), 0)
        except BaseException:
            os.close(fd)
            raise
        self._writer_fd, self._writer_depth = fd, 1
        try:
            yield self
        finally:
            self._writer_depth = 0
            self._writer_fd = None
            try:
                os.ftruncate(fd, 0)
            except OSError:
                pass
            _unlock(fd)
            os.close(fd)

    # ------------------------------------------------------------------ open / create
    @classmethod
    def create(cls, path: str | os.PathLike[str], *, fractions: Mapping[str, float] | None = None,
               exist_ok: bool = False) -> Store:
        """Create a store folder (or open it when ``exist_ok`` and it already is one).

        Parameters
        ----------
        path : path-like
        fractions : mapping, optional
            ``{"train": 0.8, "val": 0.1, "test": 0.1}`` by default; must sum to 1.
        exist_ok : bool

        Raises
        ------
        StoreError
            The folder exists and is not an empty folder or a store, or fractions are invalid.
        """
        root = Path(path)
        if (root / STORE_JSON).exists():
            if exist_ok:
                return cls.open(root)
            raise StoreError(f"{root}: a store already exists here")
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise StoreError(f"{root}: exists and is not an empty folder or a store")
        fr = dict(fractions or {"train": 0.8, "val": 0.1, "test": 0.1})
        if set(fr) - set(SPLITS) or any(v < 0 for v in fr.values()) or abs(sum(fr.values()) - 1.0) > 1e-9:
            raise StoreError(f"split fractions must be non-negative train/val/test summing to 1, got {fr}")
        for sub in ("images", "cases", "masks"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        info = {"format": STORE_FORMAT, "format_version": STORE_VERSION, "splits": fr,
                "layout": {"images": "images/", "cases": "cases/", "masks": "masks/", "manifest": MANIFEST}}
        atomic_write_json(root / STORE_JSON, info)
        (root / MANIFEST).touch()
        return cls(root, info)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Store:
        """Open an existing store.

        Raises
        ------
        StoreError
            Not a store, written by a newer version, or unreadable.
        """
        root = Path(path)
        try:
            info = json.loads((root / STORE_JSON).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise StoreError(f"{root}: not a training-set store (no {STORE_JSON})") from None
        except (OSError, ValueError) as exc:
            raise StoreError(f"{root}: cannot read {STORE_JSON} ({exc})") from None
        if not isinstance(info, dict) or info.get("format") != STORE_FORMAT:
            raise StoreError(f"{root}: {STORE_JSON} is not an llm-viewer store description")
        if int(info.get("format_version", 0)) > STORE_VERSION:
            raise StoreError(f"{root}: written by a newer llm-viewer (store format {info.get('format_version')})")
        for sub in ("images", "cases", "masks"):
            (root / sub).mkdir(exist_ok=True)
        return cls(root, info)

    @property
    def fractions(self) -> dict[str, float]:
        return dict(self.info.get("splits") or {"train": 0.8, "val": 0.1, "test": 0.1})

    # ------------------------------------------------------------------ paths
    def path(self, rel: str) -> Path:
        """Absolute path of a store-relative path."""
        return self.root / rel

    def case_path(self, entry: StoreEntry) -> Path:
        return self.root / entry.case

    def image_path(self, entry: StoreEntry) -> Path:
        return self.root / entry.image

    def mask_path(self, entry: StoreEntry, name: str) -> Path:
        return self.root / entry.masks[name]["path"]

    def load_case(self, entry: StoreEntry) -> Case:
        from .casefile import load_case
        return load_case(self.case_path(entry))

    # ------------------------------------------------------------------ writing
    def add_case(self, case_id: str, case: Case | Mapping[str, Any], *, image_bytes: bytes | None = None,
                 image_path: str | os.PathLike[str] | None = None, image_suffix: str = ".dcm",
                 masks: Mapping[str, bytes] | None = None, source: str = "synthetic", split: str | None = None,
                 created: str | None = None, width_px: int | None = None, height_px: int | None = None,
                 extra: Mapping[str, Any] | None = None, replace: bool = False) -> StoreEntry:
        """Add one case: image, case file and masks are written atomically, then the manifest line.

        Parameters
        ----------
        case_id : str
            Unique id (letters, digits, ``._-``); file names derive from it.
        case : Case or dict
            The case document; its ``image`` entry is (re)written to point at the stored image by a path
            relative to the case file.
        image_bytes, image_path
            The image, as bytes or as a file to copy (exactly one).
        image_suffix : str
            File suffix of the stored image when given as bytes (``.dcm``, ``.png`` ...).
        masks : mapping, optional
            ``{name: PNG bytes}``, stored as ``masks/<id>_<name>.png``.
        source : str
            ``"synthetic"``, ``"export"`` (a case corrected in the viewer) or ``"import"``.
        split : str, optional
            Force a split; by default a hash of the id decides (stable across runs).
        created : str, optional
            ISO timestamp for the manifest (the generator passes a fixed one for reproducibility).
        width_px, height_px : int, optional
            Image size recorded in the case file.
        extra : mapping, optional
            Additional manifest keys (e.g. the generator's seed).
        replace : bool
            Allow a new version of an existing id (the last manifest line wins).

        Returns
        -------
        StoreEntry

        Raises
        ------
        StoreError
            Bad id, duplicate id, bad arguments; ``OSError`` for disk problems (nothing half-written).
        """
        with self.writing():
            return self._add_case(case_id, case, image_bytes=image_bytes, image_path=image_path,
                                  image_suffix=image_suffix, masks=masks, source=source, split=split,
                                  created=created, width_px=width_px, height_px=height_px, extra=extra,
                                  replace=replace)

    def _add_case(self, case_id: str, case: Case | Mapping[str, Any], *, image_bytes: bytes | None,
                  image_path: str | os.PathLike[str] | None, image_suffix: str, masks: Mapping[str, bytes] | None,
                  source: str, split: str | None, created: str | None, width_px: int | None,
                  height_px: int | None, extra: Mapping[str, Any] | None, replace: bool) -> StoreEntry:
        _check_id(case_id)
        if (image_bytes is None) == (image_path is None):
            raise StoreError("give exactly one of image_bytes and image_path")
        if source not in SOURCES:
            raise StoreError(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")
        if split is not None and split not in SPLITS:
            raise StoreError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
        if not replace and case_id in self._latest():
            raise StoreError(f"{self.root}: case {case_id!r} already exists (use replace=True for a new version)")
        if image_path is not None:
            suffix = "".join(Path(image_path).suffixes[-1:]) or image_suffix
        else:
            suffix = image_suffix if image_suffix.startswith(".") else "." + image_suffix
        img_rel = f"images/{case_id}{suffix}"
        case_rel = f"cases/{case_id}{CASE_SUFFIX}"
        img_abs, case_abs = self.root / img_rel, self.root / case_rel
        if image_bytes is not None:
            atomic_write_bytes(img_abs, image_bytes)
            img_sha = _sha256_bytes(image_bytes)
        else:
            src = Path(image_path)  # type: ignore[arg-type]
            if not src.is_file():
                raise StoreError(f"{src}: no such image file")
            data = src.read_bytes()
            atomic_write_bytes(img_abs, data)
            img_sha = _sha256_bytes(data)
        c = case if isinstance(case, Case) else Case(dict(case), source=f"case {case_id}")
        ref = c.image
        w = width_px if width_px is not None else (ref.width_px if ref else None)
        h = height_px if height_px is not None else (ref.height_px if ref else None)
        c.set_image(img_abs, case_abs, width_px=w, height_px=h, hash_file=False)
        doc = c.to_dict()
        doc["image"]["sha256"] = img_sha
        case_bytes = (json.dumps(doc, indent=1, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
        atomic_write_bytes(case_abs, case_bytes)
        mask_entries: dict[str, dict[str, str]] = {}
        for name, data in (masks or {}).items():
            if not re.match(r"^[A-Za-z0-9_-]{1,64}$", name):
                raise StoreError(f"invalid mask name {name!r}")
            rel = f"masks/{case_id}_{name}.png"
            atomic_write_bytes(self.root / rel, data)
            mask_entries[name] = {"path": rel, "sha256": _sha256_bytes(data)}
        entry = StoreEntry(
            id=case_id, split=split or split_for_id(case_id, self.fractions), source=source, image=img_rel,
            image_sha256=img_sha, case=case_rel, case_sha256=_sha256_bytes(case_bytes), masks=mask_entries,
            created=created or utc_now(), sides=tuple(c.sides), extra=dict(extra or {}))
        self._append(entry.as_dict())
        return entry

    def _append(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, ensure_ascii=False, allow_nan=False, separators=(",", ":")) + "\n").encode()
        path = self.root / MANIFEST
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _lock(fd)
            size = os.fstat(fd).st_size
            if size:
                # cut a torn last line (a crash during an earlier append) so the new line starts clean
                os.lseek(fd, max(0, size - 65536), os.SEEK_SET)
                tail = os.read(fd, 65536)
                if not tail.endswith(b"\n"):
                    cut = tail.rfind(b"\n")
                    os.ftruncate(fd, size - len(tail) + cut + 1 if cut >= 0 else max(0, size - len(tail)))
            os.lseek(fd, 0, os.SEEK_END)
            os.write(fd, line)
            os.fsync(fd)
        finally:
            _unlock(fd)
            os.close(fd)

    def refresh_case(self, case_id: str, *, by: str | None = None) -> StoreEntry | None:
        """Record an in-place edit of a case file (a review in the viewer): a new manifest line for ``case_id``
        with the case file's current sha256 (the last line wins). Nothing is written when the hash has not
        changed; returns the new entry, or ``None``.

        Raises
        ------
        StoreError
            No such case in the store, or its case file is missing.
        """
        entry = self._latest().get(case_id)
        if entry is None:
            raise StoreError(f"{self.root}: no case {case_id!r}")
        path = self.case_path(entry)
        if not path.is_file():
            raise StoreError(f"{self.root}: case file {entry.case} is missing")
        sha = sha256_file(path)
        if sha == entry.case_sha256:
            return None
        extra = dict(entry.extra, edited_at=utc_now(), edited_by=by)
        new = StoreEntry(id=entry.id, split=entry.split, source=entry.source, image=entry.image,
                         image_sha256=entry.image_sha256, case=entry.case, case_sha256=sha, masks=entry.masks,
                         created=entry.created, sides=entry.sides, extra=extra)
        self._append(new.as_dict())
        return new

    # ------------------------------------------------------------------ reading
    def _records(self) -> Iterator[tuple[int, dict[str, Any] | None]]:
        path = self.root / MANIFEST
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return
        lines = data.split(b"\n")
        for i, raw in enumerate(lines):
            if not raw.strip():
                continue
            complete = i < len(lines) - 1  # the text after the last newline is an unfinished line
            rec = None
            if complete:
                try:
                    obj = json.loads(raw.decode("utf-8"))
                    if isinstance(obj, dict) and isinstance(obj.get("id"), str):
                        rec = obj
                except (UnicodeDecodeError, ValueError):
                    rec = None
            yield i + 1, rec

    def _latest(self) -> dict[str, StoreEntry]:
        out: dict[str, StoreEntry] = {}
        for _, rec in self._records():
            if rec is None:
                continue
            try:
                e = _entry(rec)
            except (KeyError, TypeError, ValueError):
                continue
            out.pop(e.id, None)
            out[e.id] = e
        return out

    def entries(self, split: str | None = None, *, check: str = "exists") -> list[StoreEntry]:
        """Valid entries (last version of each id), in manifest order.

        Parameters
        ----------
        split : str, optional
            Only this split.
        check : str
            ``"exists"`` (default): skip entries whose files are missing; ``"hash"``: also skip entries
            whose files do not match their recorded sha256; ``"none"``: no file checks.
        """
        if check not in ("none", "exists", "hash"):
            raise StoreError(f"check must be none, exists or hash, got {check!r}")
        out = []
        for e in self._latest().values():
            if split is not None and e.split != split:
                continue
            if check != "none" and self._entry_problems(e, hashes=(check == "hash")):
                continue
            out.append(e)
        return out

    def __len__(self) -> int:
        return len(self.entries())

    def __iter__(self) -> Iterator[StoreEntry]:
        return iter(self.entries())

    def _entry_problems(self, e: StoreEntry, *, hashes: bool) -> list[str]:
        """Missing files; with ``hashes``, image and mask files that differ from their recorded sha256.

        The case file's own hash is not a problem: reviewers edit case files in place (worklist on a
        store); :meth:`verify` reports those as ``reviewed_in_place`` and checks the case parses instead.
        """
        problems = []
        files = [(e.image, e.image_sha256), (e.case, None)] + [(m["path"], m["sha256"]) for m in e.masks.values()]
        for rel, sha in files:
            p = self.root / rel
            if not p.is_file():
                problems.append(f"{e.id}: missing file {rel}")
            elif hashes and sha is not None and sha256_file(p) != sha:
                problems.append(f"{e.id}: {rel} does not match its recorded sha256")
        return problems

    def verify(self) -> VerifyReport:
        """Check every entry's files and hashes, the case files, torn lines and orphan files."""
        ok, problems, torn, reviewed = [], [], 0, []
        referenced: set[str] = set()
        for lineno, rec in self._records():
            if rec is None:
                torn += 1
                problems.append(f"manifest line {lineno}: incomplete or not valid JSON (ignored)")
        latest = self._latest()
        for e in latest.values():
            referenced.update([e.image, e.case] + [m["path"] for m in e.masks.values()])
            pr = self._entry_problems(e, hashes=True)
            if not pr:
                try:
                    case = self.load_case(e)
                    if case.resolve_image_path(self.case_path(e)) != self.image_path(e).resolve():
                        pr.append(f"{e.id}: case file names another image")
                except CaseFileError as exc:
                    pr.append(f"{e.id}: {exc}")
            problems.extend(pr)
            if not pr:
                ok.append(e.id)
                if sha256_file(self.case_path(e)) != e.case_sha256:
                    reviewed.append(e.id)
        orphans = []
        for sub in ("images", "cases", "masks"):
            d = self.root / sub
            for p in sorted(d.iterdir()) if d.is_dir() else []:
                rel = f"{sub}/{p.name}"
                if rel not in referenced:
                    orphans.append(rel)
        return VerifyReport(ok=tuple(ok), problems=tuple(problems), torn_lines=torn, orphans=tuple(orphans),
                            reviewed_in_place=tuple(reviewed))

    def clean(self) -> list[str]:
        """Remove temporary files of interrupted writes and orphans (files no manifest line names)."""
        removed = [str(p) for sub in ("images", "cases", "masks") for p in sweep_temp(self.root / sub)]
        for rel in self.verify().orphans:
            try:
                (self.root / rel).unlink()
                removed.append(rel)
            except OSError:
                pass
        return removed


def store_case_of(case_path: str | os.PathLike[str]) -> tuple[Store, str] | None:
    """``(store, case_id)`` when ``case_path`` is a store's ``cases/<id>.case.json`` listed in its manifest."""
    p = Path(case_path).resolve()
    if p.parent.name != "cases" or not p.name.endswith(CASE_SUFFIX) or not (p.parent.parent / STORE_JSON).is_file():
        return None
    try:
        store = Store.open(p.parent.parent)
    except StoreError:
        return None
    case_id = p.name[: -len(CASE_SUFFIX)]
    entry = store._latest().get(case_id)
    if entry is None or (store.root / entry.case).resolve() != p:
        return None
    return store, case_id


def _entry(rec: Mapping[str, Any]) -> StoreEntry:
    known = {"id", "split", "source", "image", "image_sha256", "case", "case_sha256", "masks", "created", "sides"}
    return StoreEntry(id=str(rec["id"]), split=str(rec["split"]), source=str(rec.get("source", "synthetic")),
                      image=str(rec["image"]), image_sha256=str(rec["image_sha256"]), case=str(rec["case"]),
                      case_sha256=str(rec["case_sha256"]), masks=dict(rec.get("masks") or {}),
                      created=str(rec.get("created", "")), sides=tuple(rec.get("sides") or ()),
                      extra={k: v for k, v in rec.items() if k not in known})


try:  # POSIX advisory lock on the manifest while appending
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
except ImportError:  # pragma: no cover - Windows: single writer assumed
    def _lock(fd: int) -> None:
        return None

    def _try_lock(fd: int) -> bool:
        return True

    def _unlock(fd: int) -> None:
        return None





# COCO export lives in its own module; re-exported here for callers of the store API.
from .coco import COCO_SKELETON, CocoSummary, export_coco  # noqa: E402,F401
