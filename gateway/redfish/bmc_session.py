"""BmcSession: the requests Session every BMC conversation uses.

It reads nothing from the environment (no ~/.netrc, no proxy variables: BMC
credentials and routes come from config), and it skips the per-request merges that
would only give back the session's own values: merging environment settings, and
merging empty cookie jars and parameter dicts. A 300-node rollout profile showed
those merges (requests' to_key_val_list checks a runtime Protocol on every call) at
about a tenth of the gateway's GIL time; a request that carries cookies or
parameters, or a session that has received cookies, takes requests' full path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from requests.cookies import RequestsCookieJar
from requests.hooks import default_hooks
from requests.models import PreparedRequest
from requests.structures import CaseInsensitiveDict
from requests.utils import check_header_validity
from urllib3.connectionpool import ConnectionPool


class BmcSession(requests.Session):
    """A requests Session for one BMC (see the module doc)."""

    def __init__(self) -> None:
        super().__init__()
        self.trust_env = False
        self._urls: dict[str, str | None] = {}  # see _prepared_url
        self._checked: set[tuple[Any, Any]] = set()  # see _checked_headers

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any,
                                   cert: Any) -> Any:
        if self.trust_env or proxies or self.proxies:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        # What requests' merge_setting gives without environment or proxies: the
        # request's value when set, else the session's.
        return {"proxies": {}, "stream": self.stream if stream is None else stream,
                "verify": self.verify if verify is None else verify,
                "cert": self.cert if cert is None else cert}

    def prepare_request(self, request: requests.Request) -> PreparedRequest:
        if (self.trust_env or request.cookies or self.cookies or request.params
                or self.params or any(self.hooks.values())):
            prepared: PreparedRequest = super().prepare_request(request)
            return prepared
        # requests' own steps in its order (PreparedRequest.prepare), without the merges:
        # session headers overridden by the request's, a None value removing the header.
        headers: CaseInsensitiveDict[Any] = CaseInsensitiveDict(self.headers)
        headers.update(request.headers)
        for key in [key for key, value in headers.items() if value is None]:
            del headers[key]
        prepared = PreparedRequest()
        prepared.prepare_method(request.method)
        prepared.url = self._prepared_url(request.url)
        prepared.headers = self._checked_headers(headers)
        # Both jars are empty: no Cookie header (requests' get_cookie_header would parse
        # the URL and lock a jar to find none). The jar is the request's on a redirect.
        prepared._cookies = RequestsCookieJar()  # type: ignore[attr-defined]
        prepared.prepare_body(request.data, request.files, request.json)
        prepared.prepare_auth(request.auth if request.auth is not None else self.auth,
                              request.url)
        prepared.prepare_hooks(request.hooks or default_hooks())
        return prepared

    # What requests' prepare_url and prepare_headers make of a URL or a header depends on
    # it alone; a BMC conversation repeats a few dozen of each (the same resources polled,
    # the same session headers), and preparing them anew was about a twentieth of the
    # gateway's CPU in a mixed-vendor rollout profile. Remembered per session, bounded.
    _REMEMBERED = 512

    def _prepared_url(self, url: str) -> str | None:
        if url in self._urls:
            return self._urls[url]
        scratch = PreparedRequest()
        scratch.prepare_url(url, None)  # raises requests' errors for a bad URL
        if len(self._urls) >= self._REMEMBERED:
            self._urls.clear()
        self._urls[url] = scratch.url
        return scratch.url

    def _checked_headers(self, headers: CaseInsensitiveDict[Any]
                         ) -> CaseInsensitiveDict[Any]:
        """``headers`` once each (name, value) passed requests' validity check (no
        newline or leading space that could inject a header; raises InvalidHeader)."""
        for item in headers.items():
            if not isinstance(item[1], (str, bytes)) or item not in self._checked:
                check_header_validity(item)
                if len(self._checked) >= self._REMEMBERED:
                    self._checked.clear()
                self._checked.add(item)
        return headers


class BmcAdapter(HTTPAdapter):
    """requests' HTTPAdapter that looks up its connection pool once per BMC address and
    TLS settings instead of on every request (parsing the URL, building the pool key,
    and statting a CA bundle path each time). A pool urllib3 has closed since (evicted,
    or the adapter closed) is looked up again; proxies take requests' own path."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pools: dict[tuple[str, str, Any, Any], ConnectionPool] = {}

    def get_connection_with_tls_context(self, request: PreparedRequest,
                                        verify: bool | str | None,
                                        proxies: Mapping[str, str] | None = None,
                                        cert: tuple[str, str] | str | None = None
                                        ) -> ConnectionPool:
        if proxies:
            return super().get_connection_with_tls_context(request, verify, proxies, cert)
        scheme, _sep, rest = (request.url or "").partition("://")
        key = (scheme.lower(), rest.split("/", 1)[0], verify, cert)
        cached = self._pools.get(key)
        # urllib3 empties a pool it closed (evicted, or the adapter closed): look again.
        if cached is not None and getattr(cached, "pool", None) is not None:
            return cached
        pool = super().get_connection_with_tls_context(request, verify, proxies, cert)
        self._pools[key] = pool
        return pool

    def close(self) -> None:
        self._pools.clear()
        super().close()


__all__ = ["BmcAdapter", "BmcSession"]
