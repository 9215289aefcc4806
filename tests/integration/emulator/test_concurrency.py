"""Concurrent clients."""

from __future__ import annotations

import threading

import pytest

from vertex_emulator import EmulatorServer

from .support import (
    create,
    make_client,
)

pytestmark = pytest.mark.timeout(120)


# -- concurrency ----------------------------------------------------------------------------------------
def test_concurrent_clients(emulator: EmulatorServer, parent: str) -> None:
    names: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            own = make_client(emulator.url)
            for _ in range(15):
                job = create(own, parent)
                assert own.get_custom_job(name=job.name).name == job.name
                names.append(job.name)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors[0]
    assert len(names) == len(set(names)) == 180
    assert len(list(make_client(emulator.url).list_custom_jobs(parent=parent))) == 180
