"""The HTTP edge: sushy's Connector with certificate pinning and streamed multipart POSTs.

sushy has no multipart push (UpdateService.MultipartHttpPushUri), so this
subclass adds one that streams the image from an iterator with a known
Content-Length: the image is never held in memory, and BMCs that refuse
chunked uploads still accept it.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import urljoin

import requests
import sushy
from sushy import connector as sushy_connector
from sushy import exceptions as sushy_exc
from urllib3.util.retry import Retry

from gateway.redfish.bmc_session import BmcAdapter, BmcSession
from gateway.redfish.endpoint import BmcEndpoint, TlsMode
from gateway.redfish.errors import (
    RequestRejectedError,
    known_transient,
    quoted,
    translate,
    translated,
)

LOG = logging.getLogger(__name__)


def reuse_retries() -> Retry:
    """One retry of an idempotent request (GET, PUT, DELETE, ...) whose kept-alive
    connection broke while the request was under way.

    Connections are kept alive between requests; a BMC may close an idle one just as
    a request is sent on it. POST and PATCH are never retried here (a reset or an
    insert must not be sent twice): their failure reaches the executor's retry policy.
    """
    # connect=0: a refused new connection (a BMC restarting) is reported at once.
    return Retry(total=1, connect=0, read=1, status=0, redirect=0, other=0,
                 raise_on_status=False)


class PinnedCertificateAdapter(BmcAdapter):
    """Accepts an HTTPS peer only if its certificate's SHA-256 matches ``fingerprint``.

    Chain and host name checks are off (the BMC's certificate is typically
    self-signed); urllib3 compares the fingerprint during the handshake.
    """

    def __init__(self, fingerprint: str) -> None:
        self._fingerprint = fingerprint  # set before HTTPAdapter builds its pool manager
        super().__init__(max_retries=reuse_retries())

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False,
                         **pool_kwargs: Any) -> None:
        pool_kwargs["assert_fingerprint"] = self._fingerprint
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)


def mount_pinning(session: requests.Session, endpoint: BmcEndpoint) -> None:
    """Make ``session`` check the endpoint's pinned fingerprint (no-op unless tls=pin)."""
    if endpoint.is_https and endpoint.tls is TlsMode.PIN:
        assert endpoint.fingerprint is not None
        session.mount("https://", PinnedCertificateAdapter(endpoint.fingerprint))


class _StreamedBody:
    """A request body produced lazily: ``head``, ``size`` bytes from ``chunks``, ``tail``;
    ``len()`` gives its exact size (sent as Content-Length, which some BMCs require)."""

    def __init__(self, chunks: Iterable[bytes], size: int, head: bytes = b"",
                 tail: bytes = b"") -> None:
        self._head = head
        self._tail = tail
        self._chunks = chunks
        self._size = size
        self.sent = 0

    def __len__(self) -> int:
        return len(self._head) + self._size + len(self._tail)

    def __iter__(self) -> Iterator[bytes]:
        if self._head:
            yield self._head
        for chunk in self._chunks:
            self.sent += len(chunk)
            if self.sent > self._size:
                raise ValueError(f"image is larger than the announced {self._size} bytes")
            yield chunk
        if self.sent != self._size:
            raise ValueError(f"image ended after {self.sent} of {self._size} bytes")
        if self._tail:
            yield self._tail


def _multipart_body(boundary: str, parameters: Mapping[str, Any], filename: str,
                    chunks: Iterable[bytes], size: int) -> _StreamedBody:
    """``UpdateParameters`` (JSON) and ``UpdateFile`` as multipart/form-data."""
    dash = f"--{boundary}\r\n".encode()
    head = (
        dash
        + b'Content-Disposition: form-data; name="UpdateParameters"\r\n'
        + b"Content-Type: application/json\r\n\r\n"
        + json.dumps(dict(parameters)).encode()
        + b"\r\n" + dash
        + f'Content-Disposition: form-data; name="UpdateFile"; filename="{filename}"\r\n'
        .encode()
        + b"Content-Type: application/octet-stream\r\n\r\n"
    )
    return _StreamedBody(chunks, size, head, f"\r\n--{boundary}--\r\n".encode())


_OBJECT_START = re.compile(rb"\s*\{")  # matched in place: no copy of a large body


def check_resource(path: str, body: bytes) -> None:
    """A Redfish resource read with 200 is a JSON object: anything else (empty, HTML, a
    list, a bare value) is refused here, naming what the BMC said (quoted, truncated),
    before any reader mistakes it for a resource. $metadata is XML. A document that only
    starts like an object is left to the JSON parser (its error names the place)."""
    if _OBJECT_START.match(body) or path.rstrip("/").endswith("$metadata"):
        return
    raise RequestRejectedError(f"GET {path[:200]}: the BMC's answer is not a Redfish "
                               f"resource (a JSON object): {quoted(body)}")


class FleetConnector(sushy_connector.Connector):  # type: ignore[misc]
    """sushy's Connector configured from a BmcEndpoint, plus ``post_multipart``."""

    _session: requests.Session

    def __init__(self, endpoint: BmcEndpoint) -> None:
        # One quick retry of a failed GET; longer waits are the executor's
        # job (its RetryPolicy), so a down BMC is reported promptly.
        super().__init__(
            endpoint.url,
            verify=endpoint.requests_verify(),
            server_side_retries=1,
            server_side_retries_delay=0.2,
            default_request_timeout=endpoint.timeout,
            connect_timeout=min(endpoint.timeout, 10.0),
        )
        self.endpoint = endpoint
        # Before the first request (the login): see BmcSession.
        configured = BmcSession()
        configured.headers.update(self._session.headers)
        self._session.close()
        self._session = configured
        # sushy asks every BMC to close the connection after each response (some BMCs
        # choke on long-lived connections). That made a TCP handshake per request, the
        # largest single cost of a thousand-node rollout. Keep connections alive; a
        # dropped one is detected before reuse or retried once (idempotent requests).
        self._session.headers.pop("Connection", None)
        for scheme in ("http://", "https://"):
            self._session.mount(scheme, BmcAdapter(max_retries=reuse_retries()))
        mount_pinning(self._session, endpoint)
        endpoint.warn_if_insecure()
        # The last response on this thread: sushy's errors do not keep their response,
        # and a busy BMC's Retry-After, or an error page that is not Redfish JSON, is
        # part of what it said.
        self._answers = threading.local()
        self._response_callback = self._remember_answer

    def _remember_answer(self, response: requests.Response) -> None:
        self._answers.response = response

    def _op(self, method: str, path: str = "", data: Any = None, headers: Any = None,
            blocking: bool = False, timeout: float | None = None,
            server_side_retries_left: int | None = None, allow_reauth: bool = True,
            **extra: Any) -> requests.Response:
        try:
            response: requests.Response = super()._op(
                method, path, data=data, headers=headers, blocking=blocking, timeout=timeout,
                server_side_retries_left=server_side_retries_left,
                allow_reauth=allow_reauth, **extra)
        except sushy_exc.HTTPError as exc:
            if not hasattr(exc, "retry_after"):
                _noted(exc, getattr(self._answers, "response", None))
            # Kept even when sushy goes on to swallow the error (its eject does, for a 5xx).
            self._answers.refusal = str(translate(exc, f"{method} {path[:200]}"))
            raise
        finally:
            self._answers.response = None  # kept only while its error is raised
        if method == "GET" and response.status_code == 200:
            check_resource(path, response.content)
        return response

    def last_refusal(self) -> str | None:
        """The last error answer on this thread (named as errors.translate names it), and
        forget it: what a BMC said to a request whose error sushy swallowed."""
        said: str | None = getattr(self._answers, "refusal", None)
        self._answers.refusal = None
        return said

    def check_retry_on_exception(self, exception_msg: object) -> bool:
        """sushy retries SYS518 and iLO's InvalidOperationForSystemState once at once;
        iLO's UnableToModifyDuringSystemPOST is the same refusal (docs/interop.md)."""
        return bool(super().check_retry_on_exception(exception_msg)) or known_transient(
            str(exception_msg))

    def post_multipart(self, path: str, parameters: Mapping[str, Any], filename: str,
                       chunks: Iterable[bytes], size: int,
                       timeout: float | None = None) -> requests.Response:
        """POST ``UpdateParameters`` (JSON) and ``UpdateFile`` (``size`` bytes from ``chunks``).

        Returns the response (202 with a task monitor, or 200/204). Raises
        sushy/requests exceptions; callers translate them at the client edge.
        """
        boundary = secrets.token_hex(16)
        body = _multipart_body(boundary, parameters, filename, chunks, size)
        return self._post_streamed(path, body, {
            "Content-Type": f"multipart/form-data; boundary={boundary}"}, timeout)

    def post_stream(self, path: str, chunks: Iterable[bytes], size: int,
                    timeout: float | None = None) -> requests.Response:
        """POST ``size`` bytes from ``chunks`` as the raw body (UpdateService.HttpPushUri).

        Returns the response; raises sushy/requests exceptions as ``post_multipart``."""
        return self._post_streamed(path, _StreamedBody(chunks, size),
                                   {"Content-Type": "application/octet-stream"}, timeout)

    def _post_streamed(self, path: str, body: _StreamedBody, headers: dict[str, str],
                       timeout: float | None) -> requests.Response:
        url = urljoin(self._url, path)
        try:
            response: requests.Response = self._session.request(
                "POST", url, data=body, headers={**headers, "OData-Version": "4.0"},
                verify=self._verify, timeout=timeout or self._default_request_timeout,
            )
        except requests.exceptions.RequestException as exc:
            raise sushy_exc.ConnectionError(url=url, error=exc) from exc
        try:
            sushy_exc.raise_for_response("POST", url, response)
        except sushy_exc.HTTPError as exc:
            _noted(exc, response)
            raise
        return response


def _noted(exc: sushy_exc.HTTPError, response: requests.Response | None) -> None:
    """Keep on sushy's error what it drops of the BMC's answer: its Retry-After and, for
    an error that is not a Redfish error document (an HTML page, JSON cut short), what it
    said (``said``: quoted, truncated, secrets blanked; see errors.translate)."""
    exc.retry_after = response.headers.get("Retry-After") if response is not None else None
    if exc.body is None and response is not None:
        exc.said = quoted(response.content[:4096])
        # sushy's own retries look for words in the detail ("... in error.detail").
        exc.detail = exc.detail or ""


def open_service(endpoint: BmcEndpoint) -> sushy.Sushy:
    """Connect and log in (a Redfish session if offered, else Basic auth).

    Raises RedfishError subclasses: BmcUnreachableError, TlsError,
    AuthenticationError, ...
    """
    with translated(f"connecting to BMC {endpoint.name}"):
        root = sushy.Sushy(
            endpoint.url, username=endpoint.username, password=endpoint.password,
            connector=FleetConnector(endpoint),
        )
        # sushy falls back to Basic auth without trying it when a session
        # cannot be created: then one authenticated read proves the credentials
        # (a session the BMC created proves them already).
        auth = root._auth
        if not (isinstance(auth, sushy.auth.SessionAuth) and auth.get_session_key()):
            root.get_system_collection()
        return root
