"""Cloud Storage as a Custom Job sees it: the objects a job writes, in the Cloud Storage emulator.

Vertex AI mounts Cloud Storage into every custom training container at ``/gcs/<bucket>/...`` (Cloud Storage FUSE,
https://cloud.google.com/vertex-ai/docs/training/cloud-storage-file-system). The emulator cannot mount anything,
so with ``--execute`` a job's ``/gcs/`` becomes a directory of its own (:class:`GcsMount`): every environment value
and argument under ``/gcs/`` is rewritten to it, and the files the command wrote there are uploaded to the Cloud
Storage emulator when it exits, before the job reaches its final state. Without a command, a job's scripted
``VERTEX_EMULATOR_OUTPUTS`` object is written to its ``POLYSYNC_OUTPUTS_URI`` by :func:`write`.

Objects go through the official ``google-cloud-storage`` client to the emulator named by ``STORAGE_EMULATOR_HOST``
(``http://127.0.0.1:<port>``); without it nothing is uploaded (a local stack without Cloud Storage) and the
reason is returned for the job's log.
"""

from __future__ import annotations

import mimetypes
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

STORAGE_ENV = "STORAGE_EMULATOR_HOST"
FUSE_ROOT = "/gcs/"
_lock = threading.Lock()
_clients: dict[str, Any] = {}


def _client() -> Any:
    host = os.environ.get(STORAGE_ENV, "")
    with _lock:
        if host not in _clients:
            from google.cloud import storage

            _clients[host] = storage.Client(project="local-project")
        return _clients[host]


def split(uri: str) -> tuple[str, str] | None:
    """``gs://bucket/object`` -> (bucket, object); None for anything else."""
    if not uri.startswith("gs://"):
        return None
    bucket, _, name = uri[len("gs://") :].partition("/")
    return (bucket, name) if bucket and name else None


def write(uri: str, data: bytes, content_type: str = "application/json") -> str | None:
    """Upload ``data`` to ``uri`` in the Cloud Storage emulator. Returns None, or why nothing was written."""
    where = split(uri)
    if where is None:
        return f"not a gs:// object URI: {uri}"
    if not os.environ.get(STORAGE_ENV):
        return f"{STORAGE_ENV} is not set: {uri} was not written (no Cloud Storage emulator)"
    try:
        _client().bucket(where[0]).blob(where[1]).upload_from_string(data, content_type=content_type)
    except Exception as exc:  # noqa: BLE001 - reported in the job's log, the job itself goes on
        return f"writing {uri} failed: {type(exc).__name__}: {str(exc)[:300]}"
    return None


class GcsMount:
    """A job's ``/gcs/`` as the local directory ``root``: ``/gcs/<bucket>/<path>`` <-> ``<root>/<bucket>/<path>``.

    Only the buckets named in the job's environment and arguments are created as directories (as a FUSE mount shows
    every bucket the job may read); reads see what the job itself wrote, not the emulator's objects.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def local(self, value: str) -> str:
        if not value.startswith(FUSE_ROOT):
            return value
        rest = value[len(FUSE_ROOT) :]
        bucket = rest.split("/", 1)[0]
        if bucket:
            (self.root / bucket).mkdir(parents=True, exist_ok=True)
        return str(self.root / rest)

    def rewrite(self, argv: list[str], env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
        return [self.local(a) for a in argv], {k: self.local(v) for k, v in env.items()}

    def upload(self) -> list[str]:
        """Upload every file under the mount to ``gs://<bucket>/<path>``. Returns what could not be uploaded, why."""
        problems: list[str] = []
        if not self.root.is_dir():
            return problems
        for path in sorted(p for p in self.root.rglob("*") if p.is_file()):
            bucket, _, name = path.relative_to(self.root).as_posix().partition("/")
            if not name:
                continue
            uri = f"gs://{bucket}/{name}"
            problem = write(uri, path.read_bytes(), mimetypes.guess_type(name)[0] or "application/octet-stream")
            if problem:
                problems.append(problem)
            else:
                print(f"vertex-emulator: uploaded {FUSE_ROOT}{bucket}/{name} to {uri}", flush=True)
        return problems


class ObjectWriter:
    """Scripted objects written at a given time (a job's VERTEX_EMULATOR_OUTPUTS once it runs), one timer each."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[threading.Timer, str, bytes]] = {}

    def schedule(self, key: str, uri: str, data: bytes, at: float | None) -> None:
        """Write at `at` (epoch seconds); None: only when flushed (a job whose scenario never runs, until the admin
        API sets it to its end)."""
        timer = threading.Timer(max(0.0, at - time.time()) if at is not None else 0.0, self.flush, (key,))
        timer.daemon = True
        with self._lock:
            self._pending[key] = (timer, uri, data)
        if at is not None:
            timer.start()

    def flush(self, key: str) -> None:
        """Write ``key``'s object now, if it is still pending."""
        with self._lock:
            pending = self._pending.pop(key, None)
        if pending is not None:
            pending[0].cancel()
            problem = write(pending[1], pending[2])
            if problem:
                print(f"vertex-emulator: {problem}", file=sys.stderr, flush=True)

    def cancel(self, key: str) -> None:
        with self._lock:
            pending = self._pending.pop(key, None)
        if pending is not None:
            pending[0].cancel()

    def shutdown(self) -> None:
        with self._lock:
            pending, self._pending = list(self._pending.values()), {}
        for timer, _, _ in pending:
            timer.cancel()
