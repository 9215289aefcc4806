"""Cloud Logging `entries:list` (the `LogReader` port), REST v2 through google-auth's AuthorizedSession.

`POST https://logging.googleapis.com/v2/entries:list` with `{resourceNames, filter, orderBy, pageSize, pageToken}`
answers `{entries, nextPageToken}` (https://cloud.google.com/logging/docs/reference/v2/rest/v2/entries/list). No
client library: the call is one POST, and google-auth and requests are already dependencies (google-cloud-logging
would add its gRPC stack to every poll instance's cold start). The endpoint is overridable: the local Vertex AI
emulator serves `entries:list` on its own endpoint (plain HTTP, no credentials).

Reads are quota (60 per minute per project, https://cloud.google.com/logging/quotas), so a call is never retried
here: a failure is the caller's to handle (the poller reads the tail again on a later tick).
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from ..core.errors import UpstreamError

ENDPOINT = "https://logging.googleapis.com"
SCOPES = ["https://www.googleapis.com/auth/logging.read"]
METHOD = "ListLogEntries"
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


class CloudLogging:
    def __init__(self, endpoint: str = "", *, call_timeout: float = 10.0) -> None:
        self.endpoint = (endpoint or ENDPOINT).rstrip("/")
        self.call_timeout = call_timeout
        self.calls: Counter[str] = Counter()
        self._session: Any = None
        self._lock = threading.Lock()

    def _http(self) -> Any:
        with self._lock:
            if self._session is None:
                if self.endpoint.startswith("http://"):  # the local emulator: no credentials
                    import requests

                    self._session = requests.Session()
                else:
                    import google.auth
                    from google.auth.transport.requests import AuthorizedSession

                    credentials, _ = google.auth.default(scopes=SCOPES)
                    self._session = AuthorizedSession(credentials)  # type: ignore[no-untyped-call]
            return self._session

    def list_entries(
        self,
        projects: list[str],
        filter: str,
        deadline: float,
        *,
        page_size: int = 1000,
        page_token: str = "",
        newest_first: bool = True,
    ) -> tuple[list[dict[str, Any]], str]:
        """One page of entries of `projects` matching `filter`, newest first by default, and the next page token."""
        import time

        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise UpstreamError("DEADLINE_EXCEEDED", "out of time before Cloud Logging was asked", method=METHOD)
        body: dict[str, Any] = {
            "resourceNames": [f"projects/{p}" for p in dict.fromkeys(projects)],
            "filter": filter,
            "orderBy": "timestamp desc" if newest_first else "timestamp asc",
            "pageSize": max(1, min(1000, page_size)),
        }
        if page_token:
            body["pageToken"] = page_token
        self.calls[METHOD] += 1
        try:
            response = self._http().post(
                f"{self.endpoint}/v2/entries:list", json=body, timeout=min(self.call_timeout, max(remaining, 0.5))
            )
        except Exception as exc:  # noqa: BLE001 - connection errors, timeouts, credentials: Logging is unavailable
            raise UpstreamError("UNAVAILABLE", f"cannot read Cloud Logging: {str(exc)[:300]}", method=METHOD) from None
        if response.status_code >= 400:
            code, message = _STATUS.get(response.status_code, "UNKNOWN"), response.text[:300]
            try:
                error = response.json().get("error") or {}
                code, message = str(error.get("status") or code), str(error.get("message") or message)
            except Exception:  # noqa: BLE001 - a non-JSON error body keeps the HTTP-derived code
                pass
            raise UpstreamError(code, f"Cloud Logging: {message}", method=METHOD)
        data = response.json()
        entries = [e for e in data.get("entries") or [] if isinstance(e, dict)]
        return entries, str(data.get("nextPageToken") or "")
