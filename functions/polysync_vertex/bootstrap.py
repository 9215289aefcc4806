"""One place that wires settings, adapters and services. Entry points call `app()`; tests call `build()`."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from . import log
from .config import Settings


@dataclass
class App:
    settings: Settings
    vertex: Any
    store: Any
    _publisher: Any = field(default=None, repr=False)

    @property
    def publisher(self) -> Any:
        if self._publisher is None:
            from .adapters.pubsub import Publisher

            self._publisher = Publisher()
        return self._publisher

    @functools.cached_property
    def submit(self) -> Any:
        from .services.submit import SubmitService

        return SubmitService(self)

    @functools.cached_property
    def runs(self) -> Any:
        from .services.runs import RunService

        return RunService(self)

    @functools.cached_property
    def poll(self) -> Any:
        from .services.poll import PollService

        return PollService(self)

    @functools.cached_property
    def templates(self) -> Any:
        from .services.templates import TemplateService

        return TemplateService(self)


def build(settings: Settings, *, vertex: Any = None, store: Any = None, publisher: Any = None) -> App:
    from .adapters.firestore import RunStore
    from .adapters.vertex import VertexJobs

    log.set_level(settings.log_level)
    return App(
        settings=settings,
        vertex=vertex if vertex is not None else VertexJobs(settings.vertex_endpoint),
        store=store
        if store is not None
        else RunStore(settings.project, settings.firestore_database, settings.collection_prefix),
        _publisher=publisher,
    )


@functools.cache
def app() -> App:
    return build(Settings.from_env())
