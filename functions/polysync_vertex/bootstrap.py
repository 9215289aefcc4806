"""One place that wires settings, adapters and services. Entry points call `app()`; tests call `build()`.

Each service is built with exactly the ports it uses (see `ports.py`); adapters are imported lazily, so a function
instance pays only for the clients its entry point touches.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import log
from .config import Settings

if TYPE_CHECKING:
    from .adapters.firestore import RunStore
    from .ports import EventPublisher, LogReader, ObjectReader, Probes, VertexPort
    from .services.health import HealthService
    from .services.poll import PollService, UnsupportedFilters
    from .services.poll.hints import HintService
    from .services.status_cancel import RunService
    from .services.submit import SubmitService
    from .services.templates import TemplateService


@dataclass
class App:
    """The adapters of one function instance and the services built on them (each created on first use)."""

    settings: Settings
    vertex: VertexPort
    store: RunStore
    _publisher: EventPublisher | None = field(default=None, repr=False)
    _probes: Probes | None = field(default=None, repr=False)
    _logs: LogReader | None = field(default=None, repr=False)
    _storage: ObjectReader | None = field(default=None, repr=False)

    @property
    def publisher(self) -> EventPublisher:
        if self._publisher is None:
            from .adapters.pubsub import Publisher

            self._publisher = Publisher()
        return self._publisher

    @property
    def probes(self) -> Probes:
        if self._probes is None:
            from .adapters.probes import CloudProbes

            self._probes = CloudProbes(self.settings, self.store)
        return self._probes

    @property
    def logs(self) -> LogReader:
        if self._logs is None:
            from .adapters.cloud_logging import CloudLogging

            self._logs = CloudLogging(self.settings.logging_endpoint)
        return self._logs

    @property
    def storage(self) -> ObjectReader:
        """Cloud Storage reads (Custom Jobs' outputs files); the client library is imported on the first read."""
        if self._storage is None:
            from .adapters.storage import ObjectStore

            self._storage = ObjectStore(self.settings.project)
        return self._storage

    @functools.cached_property
    def submit(self) -> SubmitService:
        from .services.submit import SubmitService

        return SubmitService(self.settings, self.vertex, self.store)

    @functools.cached_property
    def runs(self) -> RunService:
        from .services.status_cancel import RunService

        return RunService(self.settings, self.vertex, self.store, self.logs)

    @functools.cached_property
    def poll(self) -> PollService:
        from .services.poll import PollService

        return PollService(
            self.settings,
            self.vertex,
            self.store,
            self.publisher,
            self.unsupported_filters,
            storage=self.storage,
            logs=self.logs,
        )

    @functools.cached_property
    def hints(self) -> HintService:
        from .services.poll.hints import HintService

        return HintService(self.settings, self.poll)

    @functools.cached_property
    def unsupported_filters(self) -> UnsupportedFilters:
        """The list filters Vertex AI rejected, remembered for the life of this instance (the poller falls back)."""
        from .services.poll import UnsupportedFilters

        return UnsupportedFilters()

    @functools.cached_property
    def templates(self) -> TemplateService:
        from .services.templates import TemplateService

        return TemplateService(self.settings, self.vertex)

    @functools.cached_property
    def health(self) -> HealthService:
        from .services.health import HealthService

        return HealthService(self.settings, self.vertex, self.probes)


def build(
    settings: Settings,
    *,
    vertex: VertexPort | None = None,
    store: RunStore | None = None,
    publisher: EventPublisher | None = None,
    probes: Probes | None = None,
    logs: LogReader | None = None,
    storage: ObjectReader | None = None,
) -> App:
    from .adapters.firestore import RunStore
    from .adapters.vertex import VertexJobs

    log.set_level(settings.log_level)
    return App(
        settings=settings,
        vertex=vertex if vertex is not None else VertexJobs(settings.vertex_endpoint),
        store=store
        if store is not None
        else RunStore(
            settings.project,
            settings.firestore_database,
            settings.collection_prefix,
            retention_days=settings.retention_days,
            call_timeout=max(8.0, min(15.0, settings.request_budget_seconds / 3)),
        ),
        _publisher=publisher,
        _probes=probes,
        _logs=logs,
        _storage=storage,
    )


_app: App | None = None
_app_lock = threading.Lock()


def app() -> App:
    """The instance's one App, built on first use. Concurrent first requests (gunicorn threads) must not build
    several (functools.cache may call the function more than once under concurrency)."""
    global _app
    if _app is None:
        with _app_lock:
            if _app is None:
                _app = build(Settings.from_env())
    return _app


def _cache_clear() -> None:
    global _app
    with _app_lock:
        _app = None


app.cache_clear = _cache_clear  # type: ignore[attr-defined]  # tests reset the instance between settings
