"""Model bundles: a folder with ``bundle.json`` and one safetensors file per model. Never unpickled.

Layout::

    bundle.json            BundleConfig.to_dict() plus "files": {model: {"file", "sha256"}}
    detector.safetensors   Faster R-CNN state dict
    hip.safetensors        one per region type (hip, diaphysis, knee, ankle)
    ...
    detector_content.safetensors   optional: a second detector of the same architecture for the content
                           inside padding bars (``OPTIONAL_MODEL_NAMES``; docs/PIPELINE.md "Padding bars")

``load_bundle`` parses and validates the JSON, checks every weight file exists, matches its recorded
SHA-256 and has a readable safetensors header. Whether the tensors fit the architecture is checked when
the engine builds the models (:func:`load_state_dict_checked`), with a message naming the model and the
offending tensors.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.landmarks import REGIONS
from .config import BundleConfig, BundleError

__all__ = ["BundleError", "ModelBundle", "load_bundle", "save_bundle", "default_bundle_path", "MODEL_NAMES",
           "OPTIONAL_MODEL_NAMES", "load_state_dict_checked"]

MODEL_NAMES: tuple[str, ...] = ("detector",) + REGIONS
OPTIONAL_MODEL_NAMES: tuple[str, ...] = ("detector_content",)
"""Models a bundle may add: ``detector_content`` reads the content inside padding bars when the main detector
finds no complete leg on the whole image (``DetectorConfig.content_crop = "fallback"``)."""


def _models_of(names: Any) -> tuple[str, ...]:
    """Every model of a bundle that has the optional models among ``names``, in file (and fingerprint) order."""
    return MODEL_NAMES + tuple(n for n in OPTIONAL_MODEL_NAMES if n in names)
BUNDLE_JSON = "bundle.json"


def default_bundle_path() -> Path:
    """``resources/models/demo``: the bundled demo model (source tree, installed wheel or frozen app)."""
    from ..resources_path import resource_path

    return resource_path("models", "demo")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class ModelBundle:
    """A validated bundle on disk.

    Attributes
    ----------
    path : Path
        The bundle folder.
    config : BundleConfig
    model_id : str
        ``name-version-<first 8 hex of fingerprint>``: what case files record as the model.
    fingerprint : str
        SHA-256 over the weight files' digests (in ``MODEL_NAMES`` order, then the optional models present).
    files : dict
        Model name -> weight file path (``MODEL_NAMES`` and the ``OPTIONAL_MODEL_NAMES`` the bundle has).
    """

    path: Path
    config: BundleConfig
    model_id: str
    fingerprint: str
    files: dict[str, Path]

    def state_dict(self, name: str) -> dict[str, Any]:
        """Read one model's tensors (CPU) from its safetensors file.

        Raises
        ------
        BundleError
            If the file cannot be read as safetensors.
        """
        from safetensors.torch import load_file

        try:
            return load_file(str(self.files[name]))
        except Exception as exc:  # safetensors raises its own error types
            raise BundleError(f"model bundle {self.path}: {name} weights are unreadable ({exc})") from None


def save_bundle(path: str | os.PathLike[str], config: BundleConfig,
                state_dicts: dict[str, dict[str, Any]]) -> None:
    """Write a bundle folder (created if needed; existing files are replaced).

    Parameters
    ----------
    path : path-like
        Target folder.
    config : BundleConfig
    state_dicts : dict
        ``{"detector": sd, "hip": sd, "diaphysis": sd, "knee": sd, "ankle": sd}`` of tensors, optionally with
        ``"detector_content"`` (:data:`OPTIONAL_MODEL_NAMES`).

    Raises
    ------
    BundleError
        If a model is missing or unknown.
    """
    from safetensors.torch import save_file

    missing = [n for n in MODEL_NAMES if n not in state_dicts]
    unknown = [n for n in state_dicts if n not in MODEL_NAMES + OPTIONAL_MODEL_NAMES]
    if missing or unknown:
        raise BundleError(f"save_bundle: expected models {MODEL_NAMES} (optionally {OPTIONAL_MODEL_NAMES}); "
                          f"missing {missing}, unknown {unknown}")
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, dict[str, str]] = {}
    for name in _models_of(state_dicts):
        target = folder / f"{name}.safetensors"
        tmp = folder / f".{name}.safetensors.tmp"
        tensors = {k: v.detach().cpu().contiguous() for k, v in state_dicts[name].items()}
        save_file(tensors, str(tmp), metadata={"model": name, "bundle": config.name})
        os.replace(tmp, target)
        files[name] = {"file": target.name, "sha256": _sha256(target)}
    doc = config.to_dict()
    doc["files"] = files
    tmp_json = folder / f".{BUNDLE_JSON}.tmp"
    tmp_json.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp_json, folder / BUNDLE_JSON)


def load_bundle(path: str | os.PathLike[str] | None = None) -> ModelBundle:
    """Read and validate a bundle folder (``None``: :func:`default_bundle_path`).

    Raises
    ------
    BundleError
        No such folder, no/invalid ``bundle.json``, a config this code cannot run, a missing weight file,
        a checksum mismatch or an unreadable safetensors header; the message names the bundle and the problem.
    """
    folder = Path(path) if path is not None else default_bundle_path()
    if folder.is_file() and folder.name == BUNDLE_JSON:
        folder = folder.parent
    cfg_path = folder / BUNDLE_JSON
    if not cfg_path.is_file():
        raise BundleError(f"no model bundle at {folder} ({BUNDLE_JSON} not found)")
    try:
        raw = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"model bundle {folder}: {BUNDLE_JSON} is not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise BundleError(f"model bundle {folder}: {BUNDLE_JSON} must hold a JSON object")
    files_raw = raw.pop("files", None)
    try:
        config = BundleConfig.from_dict(raw)
    except BundleError as exc:
        raise BundleError(f"model bundle {folder}: {exc}") from None
    if not isinstance(files_raw, dict):
        raise BundleError(f"model bundle {folder}: {BUNDLE_JSON} has no 'files' table of weight files")
    files: dict[str, Path] = {}
    digests: list[str] = []
    unknown = sorted(set(files_raw) - set(MODEL_NAMES + OPTIONAL_MODEL_NAMES))
    if unknown:
        raise BundleError(f"model bundle {folder}: unknown models {unknown} in the 'files' table; expected "
                          f"{MODEL_NAMES}, optionally {OPTIONAL_MODEL_NAMES}")
    for name in _models_of(files_raw):
        entry = files_raw.get(name)
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
            raise BundleError(f"model bundle {folder}: no weight file listed for {name!r}")
        fname = entry["file"]
        if Path(fname).name != fname or not fname.endswith(".safetensors"):
            raise BundleError(f"model bundle {folder}: weight file {fname!r} of {name!r} must be a plain "
                              "*.safetensors file name inside the bundle (pickled checkpoints are never loaded)")
        fpath = folder / fname
        if not fpath.is_file():
            raise BundleError(f"model bundle {folder}: weight file {fname} of {name!r} is missing")
        digest = _sha256(fpath)
        expected = entry.get("sha256")
        if expected is not None and expected != digest:
            raise BundleError(f"model bundle {folder}: {fname} is corrupt or was changed (SHA-256 mismatch)")
        _check_header(fpath, folder, name)
        files[name] = fpath
        digests.append(digest)
    fingerprint = hashlib.sha256("".join(digests).encode()).hexdigest()
    model_id = f"{config.name}-{config.version}-{fingerprint[:8]}"
    return ModelBundle(path=folder, config=config, model_id=model_id, fingerprint=fingerprint, files=files)


def _check_header(fpath: Path, folder: Path, name: str) -> None:
    from safetensors import safe_open

    try:
        with safe_open(str(fpath), framework="pt") as f:
            if not list(f.keys()):
                raise BundleError(f"model bundle {folder}: {fpath.name} of {name!r} holds no tensors")
    except BundleError:
        raise
    except Exception as exc:
        raise BundleError(f"model bundle {folder}: {fpath.name} of {name!r} is not a valid safetensors file "
                          f"({exc})") from None


def load_state_dict_checked(module: Any, state: dict[str, Any], *, name: str, where: str) -> None:
    """``module.load_state_dict(state, strict=True)`` turning a mismatch into a :class:`BundleError`.

    The message names the model, a few missing/unexpected keys and shape mismatches, and says that the
    bundle config (architecture, depth, width, input channels, landmarks) does not match the weights.
    """
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k}: bundle {tuple(state[k].shape)} vs code {tuple(own[k].shape)}"
              for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing tensor(s) e.g. {missing[:3]}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected tensor(s) e.g. {unexpected[:3]}")
        if shapes:
            parts.append(f"{len(shapes)} shape mismatch(es) e.g. {shapes[:2]}")
        raise BundleError(f"{where}: the {name} weights do not fit the architecture its config describes "
                          f"({'; '.join(parts)})")
    module.load_state_dict(state, strict=True)
