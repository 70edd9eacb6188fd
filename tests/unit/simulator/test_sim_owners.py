"""Owners of several vehicles: a documented share of the simulated owners have 2 or 3 of the
fleet's vehicles, drawn from a stream of their own (every other draw unchanged), deterministic by
seed, and registered with one owner_id."""

from __future__ import annotations

from collections import Counter

import numpy as np
from sim_kit import CATALOG, fleet_data, plan

from simulator.publishing.registry import vehicle_records
from simulator.truth.record import world_lines
from simulator.world.owners import group_owners


def test_a_share_of_owners_have_two_or_three_vehicles() -> None:
    ids = group_owners(np.random.default_rng(7), 2000, 0.1)
    assert len(ids) == 2000
    sizes = Counter(Counter(ids).values())
    owners = sum(sizes.values())
    assert set(sizes) == {1, 2, 3}
    assert 0.07 < (sizes[2] + sizes[3]) / owners < 0.13
    assert group_owners(np.random.default_rng(7), 2000, 0.1) == ids  # by seed
    assert len(set(group_owners(np.random.default_rng(7), 50, 0.0))) == 50


def test_the_grouping_changes_no_other_draw_and_reaches_the_registry_and_truth() -> None:
    data = fleet_data(60, 3, 11)
    grouped = plan(data)
    alone = plan({**data, "owners": {"multi_vehicle_share": 0.0}})
    assert grouped.messages == alone.messages
    for a, b in zip(grouped.vehicles, alone.vehicles, strict=True):
        assert (a.vehicle, a.owner, a.events, a.value) == (b.vehicle, b.owner, b.events, b.value)
    assert len(set(alone.owner_ids)) == 60
    assert len(set(grouped.owner_ids)) < 60
    assert plan(data).owner_ids == grouped.owner_ids
    records = vehicle_records(grouped)
    assert [r.owner_id for r in records] == list(grouped.owner_ids)
    truth = b"".join(world_lines(grouped, CATALOG))
    assert grouped.owner_ids[0].encode() in truth
