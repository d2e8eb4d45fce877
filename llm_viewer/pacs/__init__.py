"""PACS client (pynetdicom): C-ECHO, C-FIND, C-GET/C-MOVE into a folder, C-STORE; no Qt, no torch.

The node's settings (:class:`PacsNode`) live in ``<config dir>/llm-viewer/pacs.json``, shared by
``llm-viewer pacs`` and the viewer. Every network failure raises a :class:`PacsError` naming the node.
"""

from __future__ import annotations

from .association import ssl_context
from .errors import (
    PacsAssociationError,
    PacsCancelled,
    PacsConnectionError,
    PacsError,
    PacsNoServiceError,
    PacsSettingsError,
    PacsStatusError,
    PacsTimeoutError,
    PacsTlsError,
)
from .node import PacsNode, TlsFiles, load_node, pacs_settings_file, save_node, validate_ae_title
from .query import SeriesRecord, StudyRecord, echo, find_series, find_studies
from .retrieve import STORAGE_CLASSES, RetrieveResult, instance_file_name, retrieve_study
from .send import SendItem, SendResult, send_files

__all__ = [
    "PacsAssociationError", "PacsCancelled", "PacsConnectionError", "PacsError", "PacsNoServiceError", "PacsSettingsError",
    "PacsStatusError", "PacsTimeoutError", "PacsTlsError", "PacsNode", "TlsFiles", "load_node",
    "pacs_settings_file", "save_node", "validate_ae_title", "SeriesRecord", "StudyRecord", "echo", "find_series",
    "find_studies", "STORAGE_CLASSES", "RetrieveResult", "instance_file_name", "retrieve_study", "SendItem",
    "SendResult", "send_files", "ssl_context",
]
