"""The PACS node's settings: a validated dataclass stored as JSON in the application's config folder.

The file is ``<config dir>/llm-viewer/pacs.json`` next to the viewer's ``llm-viewer.conf`` (the config dir is
``$XDG_CONFIG_HOME`` or ``~/.config`` on Linux, ``~/Library/Preferences`` on macOS, ``%LOCALAPPDATA%`` on
Windows, the same folders Qt's ``GenericConfigLocation`` gives). ``LLM_VIEWER_PACS_SETTINGS`` names another
file (tests, several nodes). The CLI and the GUI share it; this module never imports Qt.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ..core.atomic import atomic_write_json
from .errors import PacsSettingsError

SETTINGS_ENV = "LLM_VIEWER_PACS_SETTINGS"
SETTINGS_VERSION = 1
DEFAULT_CALLING_AE = "LLMVIEWER"
DEFAULT_TIMEOUT_S = 30.0
MAX_TIMEOUT_S = 3600.0


def config_dir() -> Path:
    """The user's configuration folder (without Qt; the same as Qt's ``GenericConfigLocation``)."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA")
        return Path(base) if base else Path.home() / "AppData" / "Local"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Preferences"
    xdg = os.environ.get("XDG_CONFIG_HOME")
    return Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".config"


def pacs_settings_file(config_root: Path | None = None) -> Path:
    """Where the PACS node is stored: ``$LLM_VIEWER_PACS_SETTINGS`` or ``<config dir>/llm-viewer/pacs.json``."""
    if config_root is None and os.environ.get(SETTINGS_ENV):
        return Path(os.environ[SETTINGS_ENV])
    return Path(config_root or config_dir()) / "llm-viewer" / "pacs.json"


def validate_ae_title(value: Any, what: str = "AE title") -> str:
    """An AE title: 1-16 characters, printable ASCII without backslash, not only spaces (stripped)."""
    if not isinstance(value, str):
        raise PacsSettingsError(f"{what} must be text, not {type(value).__name__}")
    text = value.strip()
    if not text:
        raise PacsSettingsError(f"{what} is empty")
    if len(text) > 16:
        raise PacsSettingsError(f"{what} {text!r} is longer than 16 characters")
    bad = [c for c in text if not (32 <= ord(c) < 127) or c == "\\"]
    if bad:
        raise PacsSettingsError(f"{what} {text!r} holds a character DICOM does not allow: {bad[0]!r}")
    return text


def _port(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = int(str(value).strip())
        except ValueError:
            raise PacsSettingsError(f"{what} must be a whole number, not {value!r}") from None
    if not 1 <= value <= 65535:
        raise PacsSettingsError(f"{what} {value} is outside 1-65535")
    return value


@dataclass(frozen=True)
class TlsFiles:
    """TLS for the association: the CA bundle that verifies the node, and our certificate and key (optional).

    With TLS on and no CA file, the system's trusted CAs verify the node.
    """

    enabled: bool = False
    ca_path: str | None = None
    cert_path: str | None = None
    key_path: str | None = None
    check_hostname: bool = True


@dataclass(frozen=True)
class PacsNode:
    """A remote DICOM node and how we call it.

    Attributes
    ----------
    ae_title : str
        The node's (called) AE title.
    host : str
        Host name or IP address.
    port : int
        DICOM port.
    calling_ae_title : str
        Our AE title (the node must know it for C-MOVE, and may check it).
    tls : TlsFiles
        TLS settings (off by default).
    timeout_s : float
        Connection, association and per-message timeout.
    move_ae_title : str or None
        With C-MOVE: the AE title the node sends the images to (our storage SCP, known to the node).
    move_port : int or None
        With C-MOVE: the local port our storage SCP listens on while retrieving.
    retrieve_method : str
        ``"C-GET"`` (default: no inbound connection needed) or ``"C-MOVE"``.
    """

    ae_title: str
    host: str
    port: int
    calling_ae_title: str = DEFAULT_CALLING_AE
    tls: TlsFiles = field(default_factory=TlsFiles)
    timeout_s: float = DEFAULT_TIMEOUT_S
    move_ae_title: str | None = None
    move_port: int | None = None
    retrieve_method: str = "C-GET"

    def __post_init__(self) -> None:
        object.__setattr__(self, "ae_title", validate_ae_title(self.ae_title, "the node's AE title"))
        object.__setattr__(self, "calling_ae_title", validate_ae_title(self.calling_ae_title, "the calling AE title"))
        host = self.host.strip() if isinstance(self.host, str) else ""
        if not host or any(c.isspace() for c in host):
            raise PacsSettingsError(f"the node's host {self.host!r} is empty or holds spaces")
        object.__setattr__(self, "host", host)
        object.__setattr__(self, "port", _port(self.port, "the node's port"))
        try:
            timeout_s = float(self.timeout_s)
        except (TypeError, ValueError):
            raise PacsSettingsError(f"the timeout must be a number of seconds, not {self.timeout_s!r}") from None
        if not 0 < timeout_s <= MAX_TIMEOUT_S:
            raise PacsSettingsError(f"the timeout {timeout_s:g} s is outside (0, {MAX_TIMEOUT_S:g}] s")
        object.__setattr__(self, "timeout_s", timeout_s)
        if isinstance(self.tls, dict):
            object.__setattr__(self, "tls", _tls_from_dict(self.tls))
        if self.tls.key_path and not self.tls.cert_path:
            raise PacsSettingsError("a TLS key file is set without its certificate file")
        if self.move_ae_title is not None:
            object.__setattr__(self, "move_ae_title", validate_ae_title(self.move_ae_title, "the move destination"))
        if self.move_port is not None:
            object.__setattr__(self, "move_port", _port(self.move_port, "the move destination's port"))
        method = str(self.retrieve_method).upper()
        if method not in ("C-GET", "C-MOVE"):
            raise PacsSettingsError(f"the retrieve method {self.retrieve_method!r} is neither C-GET nor C-MOVE")
        if method == "C-MOVE" and (self.move_ae_title is None or self.move_port is None):
            raise PacsSettingsError("C-MOVE needs a move destination: its AE title and local port")
        object.__setattr__(self, "retrieve_method", method)

    @property
    def label(self) -> str:
        """``AE@host:port`` for messages."""
        return f"{self.ae_title}@{self.host}:{self.port}"

    def with_overrides(self, **changes: Any) -> PacsNode:
        """A copy with the given (non-None) fields changed, validated again."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PacsNode:
        """Build from :meth:`as_dict`'s shape; unknown keys and wrong types raise :class:`PacsSettingsError`."""
        if not isinstance(data, dict):
            raise PacsSettingsError(f"the node settings must be an object, not {type(data).__name__}")
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:
            raise PacsSettingsError(f"unknown PACS setting(s): {', '.join(unknown)}")
        missing = [k for k in ("ae_title", "host", "port") if data.get(k) in (None, "")]
        if missing:
            raise PacsSettingsError(f"the PACS settings lack {', '.join(missing)}")
        values = dict(data)
        values["tls"] = _tls_from_dict(values.get("tls") or {})
        try:
            return cls(**values)
        except TypeError as exc:
            raise PacsSettingsError(f"invalid PACS settings: {exc}") from None


def _tls_from_dict(data: Any) -> TlsFiles:
    if isinstance(data, TlsFiles):
        return data
    if not isinstance(data, dict):
        raise PacsSettingsError(f"the TLS settings must be an object, not {type(data).__name__}")
    unknown = sorted(set(data) - set(TlsFiles.__dataclass_fields__))
    if unknown:
        raise PacsSettingsError(f"unknown TLS setting(s): {', '.join(unknown)}")
    out = {k: (str(v) if v not in (None, "") else None) for k, v in data.items() if k.endswith("_path")}
    return TlsFiles(enabled=bool(data.get("enabled", False)), check_hostname=bool(data.get("check_hostname", True)),
                    **out)


def load_node(path: str | os.PathLike[str] | None = None) -> PacsNode | None:
    """The stored node, or ``None`` when no settings file exists.

    Raises
    ------
    PacsSettingsError
        The file cannot be read, is not JSON, or holds invalid settings (the message names the file).
    """
    p = Path(path) if path is not None else pacs_settings_file()
    if not p.exists():
        return None
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PacsSettingsError(f"{p}: cannot read the PACS settings: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PacsSettingsError(f"{p}: the PACS settings are not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or "node" not in doc:
        raise PacsSettingsError(f"{p}: not a PACS settings file (no 'node' entry)")
    if doc.get("version", SETTINGS_VERSION) != SETTINGS_VERSION:
        raise PacsSettingsError(f"{p}: PACS settings version {doc.get('version')!r} is not supported")
    try:
        return PacsNode.from_dict(doc["node"])
    except PacsSettingsError as exc:
        raise PacsSettingsError(f"{p}: {exc}") from None


def save_node(node: PacsNode, path: str | os.PathLike[str] | None = None) -> Path:
    """Store ``node`` atomically (creating the folder); returns the file written."""
    p = Path(path) if path is not None else pacs_settings_file()
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(p, {"version": SETTINGS_VERSION, "node": node.as_dict()})
    except OSError as exc:
        raise PacsSettingsError(f"{p}: cannot save the PACS settings: {exc.strerror or exc}") from None
    return p
