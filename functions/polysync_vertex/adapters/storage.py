"""Reading one Cloud Storage object (a Custom Job's outputs) with the maintained `google-cloud-storage` client.

`google.cloud.storage` is imported on the first read, not with this module: only the poller reads objects, so the
cold start of the other functions (submit above all) does not pay for it. With `STORAGE_EMULATOR_HOST` set the
client talks to that emulator (the local stack and the tests); otherwise to Cloud Storage with the function's
identity. Reads are one ranged GET (`bytes=0-max_bytes`): an object larger than the cap is never downloaded whole.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

from ..core.errors import UpstreamError, code_of_http
from ..core.outputs import parse_uri

CALL_TIMEOUT = 10.0


class ObjectStore:
    """`ObjectReader` over Cloud Storage. `project` is only the client's billing default; reads name their bucket."""

    def __init__(self, project: str = "", *, call_timeout: float = CALL_TIMEOUT) -> None:
        self.project = project
        self.call_timeout = call_timeout
        self.calls: Counter[str] = Counter()
        self._client: Any = None
        self._lock = threading.Lock()

    def _storage(self) -> Any:
        with self._lock:
            if self._client is None:
                from google.cloud import storage  # type: ignore[attr-defined]

                self._client = storage.Client(project=self.project or None)
            return self._client

    def read(self, uri: str, max_bytes: int, deadline: float) -> bytes | None:
        where = parse_uri(uri)
        if where is None:
            raise UpstreamError("INVALID_ARGUMENT", f"not a gs:// object URI: {uri[:300]}", method="storage.read")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise UpstreamError("DEADLINE_EXCEEDED", "out of time before reading the object", method="storage.read")
        from google.api_core import exceptions as gexc
        from google.auth import exceptions as auth_exc

        self.calls["storage.read"] += 1
        try:
            from google.cloud.storage.retry import DEFAULT_RETRY

            blob = self._storage().bucket(where.bucket).blob(where.object)
            data: bytes = blob.download_as_bytes(
                start=0,
                end=max_bytes,  # inclusive: max_bytes + 1 bytes at most, so "larger than the cap" is visible
                timeout=min(self.call_timeout, max(remaining, 0.5)),
                retry=DEFAULT_RETRY.with_timeout(max(remaining, 0.5)),
            )
            return data
        except gexc.NotFound:
            return None
        except gexc.RequestRangeNotSatisfiable:
            return b""  # Cloud Storage answers a range over an empty object with 416
        except gexc.GoogleAPICallError as exc:
            code = code_of_http(int(exc.code or 0), "UNKNOWN")
            raise UpstreamError(code, str(exc.message)[:500], method="storage.read") from None
        except gexc.RetryError as exc:
            raise UpstreamError("DEADLINE_EXCEEDED", str(exc)[:500], method="storage.read") from None
        except auth_exc.GoogleAuthError as exc:
            raise UpstreamError("UNAUTHENTICATED", str(exc)[:500], method="storage.read") from None
        except (OSError, ValueError) as exc:  # connection errors (requests' are OSErrors), a bad checksum
            raise UpstreamError(
                "UNAVAILABLE", f"{type(exc).__name__}: {str(exc)[:400]}", method="storage.read"
            ) from None
