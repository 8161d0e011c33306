"""The memory-weighted semaphore (pure logic, real threads) and the service's admission of renders by estimate."""

from __future__ import annotations

import threading
import time

import pytest

from gallery.admission import MemoryBudget, OverBudgetError
from gallery.errors import TransientError
from gallery.model import Limits, RenditionSpec
from gallery.service import Outcome, PhotoService, ServiceConfig
from tests.unit.test_service import CONFIG, PID, World


def _started(target: object) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)  # type: ignore[arg-type]
    thread.start()
    return thread


def _wait_for(condition: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_light_renders_share_the_budget() -> None:
    budget = MemoryBudget(1000)
    for _ in range(4):
        budget.acquire(250)
    assert budget.in_use_mib == 1000
    for _ in range(4):
        budget.release(250)
    assert budget.in_use_mib == 0


def test_a_heavy_render_waits_for_room_and_later_arrivals_queue_behind_it() -> None:
    budget = MemoryBudget(1000)
    budget.acquire(300)  # a light render running
    order: list[str] = []
    heavy = _started(lambda: (budget.acquire(900), order.append("heavy")))
    _wait_for(lambda: budget.waiting == 1)
    light = _started(lambda: (budget.acquire(150), order.append("light")))  # would fit, but arrives later
    _wait_for(lambda: budget.waiting == 2)
    time.sleep(0.1)
    assert order == [] and budget.in_use_mib == 300
    budget.release(300)
    heavy.join(2)
    assert order == ["heavy"] and budget.in_use_mib == 900
    time.sleep(0.1)
    assert order == ["heavy"]  # 900 + 150 > 1000: the light one still waits
    budget.release(900)
    light.join(2)
    assert order == ["heavy", "light"] and budget.in_use_mib == 150


def test_a_render_as_large_as_the_budget_runs_alone_and_a_larger_one_never() -> None:
    budget = MemoryBudget(1000)
    budget.acquire(1000)
    budget.release(1000)
    with pytest.raises(OverBudgetError):
        budget.acquire(1001)
    assert budget.waiting == 0 and budget.in_use_mib == 0


def test_abandoning_a_wait_leaves_the_queue_and_lets_the_next_one_in() -> None:
    budget = MemoryBudget(100)
    budget.acquire(100)
    stop = threading.Event()
    errors: list[BaseException] = []

    def abandon() -> None:
        if stop.is_set():
            raise TransientError("draining", code="shutting_down")

    def wait() -> None:
        try:
            budget.acquire(80, abandon=abandon)
        except TransientError as err:
            errors.append(err)

    waiter = _started(wait)
    _wait_for(lambda: budget.waiting == 1)
    stop.set()
    waiter.join(2)
    assert [e.code for e in errors] == ["shutting_down"]  # type: ignore[attr-defined]
    assert budget.waiting == 0 and budget.in_use_mib == 100
    budget.release(100)
    with budget.hold(90):
        assert budget.in_use_mib == 90
    assert budget.in_use_mib == 0


def test_releasing_more_than_held_is_a_bug() -> None:
    budget = MemoryBudget(10)
    with pytest.raises(RuntimeError):
        budget.release(1)
    with pytest.raises(ValueError):
        MemoryBudget(0)


def _world(budget_mib: int, estimate_mib: int) -> World:
    world = World()
    config = ServiceConfig(**{**CONFIG.__dict__, "memory_budget_mib": budget_mib})

    def estimator(data: bytes, spec: RenditionSpec, limits: Limits) -> int:
        return estimate_mib

    world.service = PhotoService(world.sources, world.renditions, world.registry, config, estimator=estimator)
    return world


def test_a_photo_over_the_whole_budget_fails_with_its_estimate_and_the_budget() -> None:
    world = _world(budget_mib=500, estimate_mib=1234)
    assert world.service.handle(world.upload(3)) is Outcome.FAILED
    doc = world.doc()
    assert doc is not None and doc["status"] == "failed"
    error = doc["error"]
    assert error["code"] == "too_large_for_instance"  # type: ignore[index]
    assert "1234 MiB" in error["reason"] and "500 MiB" in error["reason"]  # type: ignore[index]
    assert world.renditions.objects == {}


def test_the_real_estimate_admits_an_ordinary_photo() -> None:
    world = World()
    assert world.service.handle(world.upload(1)) is Outcome.REGISTERED
    assert world.registry.get(PID)["status"] == "ready"  # type: ignore[index]


def test_a_render_waiting_for_memory_answers_503_when_the_instance_drains() -> None:
    world = _world(budget_mib=500, estimate_mib=400)
    world.service._memory.acquire(200)  # another render holds 200 MiB: 400 does not fit
    outcome: list[object] = []

    def deliver() -> None:
        try:
            outcome.append(world.service.handle(world.upload(5)))
        except TransientError as err:
            outcome.append(err.code)

    thread = _started(deliver)
    _wait_for(lambda: world.service._memory.waiting == 1)
    world.service.drain()
    thread.join(3)
    assert outcome == ["shutting_down"]
    assert world.doc()["status"] == "processing"  # type: ignore[index]  # redelivered later, nothing lost
