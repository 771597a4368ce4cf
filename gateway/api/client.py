"""A small client of the gateway API for the CLI (requests; no Flask).

Errors come back as ApiClientError carrying the API's status, code, message
and field, so the CLI can print exactly what the gateway said.
"""

from __future__ import annotations

from typing import Any

import requests

from gateway.api.errors import ApiError

DEFAULT_TIMEOUT_S = 30.0


class ApiClientError(ApiError):
    """The gateway refused the request (`status`, `code` and `field` as it answered) or
    could not be reached (`status` 0, `code` "unreachable")."""

    def __init__(self, message: str, *, status: int = 0, code: str = "",
                 field: str | None = None) -> None:
        super().__init__(message, field=field, code=code or "unreachable", status=status)


class ApiClient:
    """Calls one gateway with one token. `verify` is requests' verify (True or a CA file)."""

    def __init__(self, base_url: str, token: str, *, verify: bool | str = True,
                 timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.base_url = base_url.rstrip("/")
        self.verify = verify
        self.timeout = timeout
        self._session = requests.Session()
        self._session.headers["Authorization"] = f"Bearer {token}"
        self._session.headers["Accept"] = "application/json"

    def get(self, path: str, **params: Any) -> Any:
        """GET /api/... with query parameters (None values dropped); the decoded JSON."""
        return self._call("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """POST JSON to /api/...; the decoded JSON."""
        return self._call("POST", path, json=body or {})

    def get_all(self, path: str, **params: Any) -> list[Any]:
        """Every item of a paginated list, following limit/offset."""
        items: list[Any] = []
        offset = 0
        while True:
            page = self.get(path, limit=500, offset=offset, **params)
            items.extend(page["items"])
            offset += len(page["items"])
            if not page["items"] or offset >= page["total"]:
                return items

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        url = f"{self.base_url}{path}"
        try:
            response = self._session.request(method, url, timeout=self.timeout,
                                             verify=self.verify, **kwargs)
        except requests.exceptions.SSLError as exc:
            raise ApiClientError(f"TLS error talking to {self.base_url} (use --ca-cert for a "
                                 "self-signed gateway certificate)") from exc
        except requests.RequestException as exc:
            raise ApiClientError(f"cannot reach the gateway at {self.base_url}: "
                                 f"{exc.__class__.__name__}") from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.ok:
            return body
        error = body.get("error", {}) if isinstance(body, dict) else {}
        message = error.get("message") or f"HTTP {response.status_code}"
        raise ApiClientError(message, status=response.status_code, code=error.get("code", ""),
                             field=error.get("field"))
