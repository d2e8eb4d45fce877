"""Errors of the PACS client: every network failure is a :class:`PacsError` naming the node and the problem."""

from __future__ import annotations


class PacsError(RuntimeError):
    """A PACS operation failed (connection, association, timeout, abort, refused request)."""


class PacsSettingsError(PacsError, ValueError):
    """The node's settings are invalid or the settings file cannot be read or written."""


class PacsConnectionError(PacsError):
    """No TCP connection: refused, unknown host, unreachable network or connection timeout."""


class PacsTlsError(PacsError):
    """The TLS context cannot be built (missing or unreadable certificate/key) or the handshake failed."""


class PacsAssociationError(PacsError):
    """The node rejected or aborted the association (for example an unknown called AE title)."""


class PacsNoServiceError(PacsAssociationError):
    """The node accepted none of the proposed presentation contexts (SOP class / transfer syntax pairs)."""


class PacsTimeoutError(PacsError):
    """The node did not answer in time."""


class PacsStatusError(PacsError):
    """The node answered a request with a failure status."""


class PacsCancelled(PacsError):
    """The operation was cancelled by the user (the association was aborted)."""
