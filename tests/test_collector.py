"""The collector's pause: no collection inside, the collector as it was after, the young generation empty."""

from __future__ import annotations

import gc

import pytest

from hybrid_infra.collector import pause


@pytest.fixture
def collector():
    was = gc.isenabled()
    gc.enable()
    yield
    gc.unfreeze()
    (gc.enable if was else gc.disable)()


def test_inside_nothing_collects_and_after_what_was_made_waits_in_the_oldest_generation(collector):
    started = gc.get_stats()[0]["collections"]
    with pause():
        assert not gc.isenabled()
        made = [[index] for index in range(20_000)]  # enough to set off collections otherwise
        assert gc.get_stats()[0]["collections"] == started
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0
    young = {id(item) for item in gc.get_objects(generation=0)}
    assert not any(id(item) in young for item in made[:100])
    assert len(gc.get_objects(generation=0)) < 1000


def test_a_disabled_collector_stays_disabled(collector):
    gc.disable()
    with pause():
        pass
    assert not gc.isenabled()


def test_objects_someone_else_froze_stay_frozen(collector):
    gc.freeze()
    frozen = gc.get_freeze_count()
    with pause():
        [[index] for index in range(1000)]
    assert gc.get_freeze_count() == frozen and gc.isenabled()
