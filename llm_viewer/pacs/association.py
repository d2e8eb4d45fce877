"""Opening an association with a node: TLS context, a TCP probe for clear connection errors, timeouts.

Every failure becomes a :class:`~llm_viewer.pacs.errors.PacsError` whose message names the node and the
problem; the timeouts of the node apply to the connection, the association and every DIMSE message, so no
call can hang.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .errors import PacsAssociationError, PacsConnectionError, PacsNoServiceError, PacsTimeoutError, PacsTlsError
from .node import PacsNode

logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)  # our errors carry the messages; no log spam


def ssl_context(node: PacsNode) -> ssl.SSLContext | None:
    """The client TLS context of ``node`` (``None`` with TLS off).

    Raises
    ------
    PacsTlsError
        A CA, certificate or key file is missing or not a valid PEM file (the message names it).
    """
    tls = node.tls
    if not tls.enabled:
        return None
    for what, path in (("CA file", tls.ca_path), ("certificate file", tls.cert_path), ("key file", tls.key_path)):
        if path and not Path(path).is_file():
            raise PacsTlsError(f"{node.label}: TLS {what} {path} does not exist")
    try:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=tls.ca_path or None)
    except (ssl.SSLError, OSError) as exc:
        raise PacsTlsError(f"{node.label}: TLS CA file {tls.ca_path} is not a valid PEM certificate ({exc})") from None
    ctx.check_hostname = bool(tls.check_hostname)
    if tls.cert_path:
        try:
            ctx.load_cert_chain(tls.cert_path, tls.key_path or None)
        except (ssl.SSLError, OSError) as exc:
            key = tls.key_path or "(in the certificate file)"
            raise PacsTlsError(f"{node.label}: TLS certificate {tls.cert_path} / key {key} cannot be loaded "
                               f"({exc})") from None
    return ctx


def probe(node: PacsNode, ctx: ssl.SSLContext | None = None) -> None:
    """Open and close a TCP connection (with ``ctx``: and a TLS handshake), turning OS and TLS errors into
    clear messages (pynetdicom itself only logs them)."""
    try:
        with socket.create_connection((node.host, node.port), timeout=node.timeout_s) as raw:
            if ctx is not None:
                _handshake(node, ctx, raw)
    except socket.gaierror as exc:
        raise PacsConnectionError(f"{node.label}: unknown host {node.host!r} ({exc.strerror or exc})") from None
    except ConnectionRefusedError:
        raise PacsConnectionError(f"{node.label}: connection refused (is the PACS running and is the port "
                                  f"{node.port} right?)") from None
    except TimeoutError:
        raise PacsTimeoutError(f"{node.label}: no answer to the connection within {node.timeout_s:g} s") from None
    except OSError as exc:
        raise PacsConnectionError(f"{node.label}: cannot connect ({exc.strerror or exc})") from None


def _handshake(node: PacsNode, ctx: ssl.SSLContext, raw: socket.socket) -> None:
    try:
        with ctx.wrap_socket(raw, server_hostname=node.host):
            pass
    except ssl.SSLCertVerificationError as exc:
        raise PacsTlsError(f"{node.label}: the node's TLS certificate is not trusted "
                           f"({exc.verify_message or exc}); check the CA file") from None
    except (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionResetError, BrokenPipeError):
        raise PacsTlsError(f"{node.label}: the node closed the connection during the TLS handshake "
                           "(does it expect TLS, or a client certificate?)") from None
    except TimeoutError:
        raise PacsTimeoutError(f"{node.label}: no answer to the TLS handshake within {node.timeout_s:g} s") from None
    except ssl.SSLError as exc:
        raise PacsTlsError(f"{node.label}: TLS handshake failed ({exc.reason or exc})") from None


def make_ae(node: PacsNode, ae_title: str | None = None) -> Any:
    """A pynetdicom AE with the node's timeouts."""
    from pynetdicom import AE

    ae = AE(ae_title=ae_title or node.calling_ae_title)
    ae.acse_timeout = node.timeout_s
    ae.dimse_timeout = node.timeout_s
    ae.network_timeout = node.timeout_s
    ae.connection_timeout = node.timeout_s
    ae.maximum_associations = 4
    return ae


@contextlib.contextmanager
def associate(node: PacsNode, contexts: Sequence[tuple[str, Sequence[str]]], *, what: str,
              roles: Sequence[str] = (), evt_handlers: Sequence[tuple[Any, Callable]] = ()) -> Iterator[Any]:
    """An established association (released, or aborted on an error, at the end).

    Parameters
    ----------
    node : PacsNode
    contexts : sequence of (abstract syntax UID, transfer syntax UIDs)
        The presentation contexts to propose (at most 128).
    what : str
        What the association is for, for messages ("C-FIND", "C-GET"...).
    roles : sequence of str
        Storage SOP classes for which we ask the SCP role (C-GET).
    evt_handlers : sequence
        pynetdicom event handlers bound to the association.
    """
    from pynetdicom import evt

    ctx = ssl_context(node)
    probe(node, ctx)
    ae = make_ae(node)
    for abstract, syntaxes in contexts:
        ae.add_requested_context(abstract, list(syntaxes))
    ext = []
    if roles:
        from pynetdicom import build_role

        ext = [build_role(uid, scp_role=True) for uid in roles]
    tls_args = (ctx, node.host) if ctx is not None else None
    answer: dict[str, str] = {}

    def on_pdu(event: Any) -> None:  # keeps the A-ASSOCIATE-RJ reason pynetdicom only logs
        pdu = event.pdu
        answer.setdefault("any", type(pdu).__name__)
        if type(pdu).__name__ == "A_ASSOCIATE_RJ" and "reason" not in answer:
            try:
                answer["reason"] = f"{pdu.reason_str} ({pdu.result_str}, {pdu.source_str})"
            except (KeyError, AttributeError, TypeError):
                answer["reason"] = f"reason code {pdu.reason_diagnostic}"

    handlers = [(evt.EVT_PDU_RECV, on_pdu), *evt_handlers]
    t0 = time.monotonic()
    try:
        assoc = ae.associate(node.host, node.port, ae_title=node.ae_title, ext_neg=ext or None,
                             tls_args=tls_args, evt_handlers=handlers)
    except ssl.SSLError as exc:
        raise PacsTlsError(f"{node.label}: TLS handshake failed ({exc})") from None
    except (OSError, RuntimeError) as exc:
        raise PacsConnectionError(f"{node.label}: cannot open the association for {what} ({exc})") from None
    if not assoc.is_established:
        ae.shutdown()
        if "any" not in answer and time.monotonic() - t0 >= 0.9 * node.timeout_s:
            raise PacsTimeoutError(f"{node.label}: no answer to the association request for {what} within "
                                   f"{node.timeout_s:g} s")
        _raise_not_established(node, assoc, what, ctx is not None, answer.get("reason"))
    try:
        yield assoc
    except BaseException:
        if assoc.is_established:
            assoc.abort()
        raise
    else:
        if assoc.is_established:
            assoc.release()
    finally:
        ae.shutdown()


def _raise_not_established(node: PacsNode, assoc: Any, what: str, tls: bool, reason: str | None) -> None:
    if assoc.is_rejected or reason is not None:  # an A-ASSOCIATE-RJ (pynetdicom may report it as an abort)
        raise PacsAssociationError(f"{node.label} rejected the association for {what} from "
                                   f"{node.calling_ae_title}: {reason or 'no reason given'}")
    if assoc.is_aborted and not assoc.accepted_contexts and assoc.rejected_contexts:
        raise PacsNoServiceError(f"{node.label} accepts none of the services proposed for {what}")
    if assoc.is_aborted:
        hint = " (or the TLS handshake failed)" if tls else " (does the node expect TLS?)"
        raise PacsAssociationError(f"{node.label} aborted the association for {what}{hint}")
    raise PacsTimeoutError(f"{node.label}: no association for {what} within {node.timeout_s:g} s")


def check_dimse_status(node: PacsNode, assoc: Any, status: Any, what: str) -> None:
    """Raise on an empty status (timeout or abort while waiting for the answer)."""
    if status is not None and "Status" in status:
        return
    if assoc.is_aborted:
        raise PacsAssociationError(f"{node.label} aborted the association during {what}")
    raise PacsTimeoutError(f"{node.label}: no answer to {what} within {node.timeout_s:g} s")
