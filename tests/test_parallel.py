"""parallel.each: many small tasks on a few threads, more threads only where waiting on storage
is most of the time (profile's footers over an object store)."""

from __future__ import annotations

import threading
import time

import pytest

from r2d2 import parallel
from r2d2.parallel import each


@pytest.mark.parametrize("workers", [1, 2, 3])
@pytest.mark.parametrize("judged", [False, True])
def test_results_in_order_whatever_the_threads(workers: int, judged: bool) -> None:
    items = list(range(500))
    waited = (lambda: 0.0) if judged else None
    assert each(lambda x: x * x, items, workers, waited) == [x * x for x in items]
    assert each(lambda x: x, [], workers, waited) == []


def test_the_first_failure_is_raised_and_the_rest_stop() -> None:
    ran: list[int] = []

    def task(x: int) -> int:
        ran.append(x)
        if x == 3:
            raise ValueError("table 3 is bad")
        return x

    with pytest.raises(ValueError, match="table 3 is bad"):
        each(task, list(range(1000)), 2)
    assert len(ran) < 1000  # the threads stopped taking items


def _threads_used(waits: bool, workers: int = 2) -> set[int]:
    """Threads that ran tasks that sleep 2 ms each, with `waited` reporting those sleeps (as a
    footer fetch from an object store would) or nothing (Python work)."""
    lock = threading.Lock()
    total = [0.0]
    used: set[int] = set()

    def task(x: int) -> int:
        used.add(threading.get_ident())
        start = time.perf_counter()
        time.sleep(0.002)
        if waits:
            with lock:
                total[0] += time.perf_counter() - start
        return x

    assert each(task, list(range(200)), workers, waited=lambda: total[0]) == list(range(200))
    return used


def test_threads_join_only_where_the_time_goes_into_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "JUDGE_AFTER_SECONDS", 0.01)
    assert _threads_used(waits=True) != {threading.get_ident()}
    assert len(_threads_used(waits=True, workers=3)) == 3
    assert _threads_used(waits=False) == {threading.get_ident()}  # all in the calling thread
    assert _threads_used(waits=True, workers=1) == {threading.get_ident()}
