"""The count-based sampler: the configured ratio holds exactly on every optimizer step."""

from __future__ import annotations

from collections import Counter

import pytest

from sgt_eval.errors import UserError
from sgt_train.mixing import MixingPlan, interleave, parse_ratio

SIZES = {"seg": 37, "vqa": 23}  # not multiples of anything: epochs wrap inside steps


def step_counts(plan: MixingPlan, step: int) -> Counter:
    """What the ranks actually run in a step: the union of every rank's micro-batches."""
    refs = [ref for rank in range(plan.world_size) for micro in plan.rank_step(step, rank) for ref in micro]
    return Counter(ref.source for ref in refs)


@pytest.mark.parametrize("world_size", [1, 2])
@pytest.mark.parametrize("grad_accum", [1, 3])
@pytest.mark.parametrize("ratio", ["2:1", "1:1", "3:1", "0:1", "1:0"])
def test_mix_mode_holds_the_ratio_on_every_step(world_size, grad_accum, ratio):
    parsed = parse_ratio(ratio)
    micro = 12 if ratio != "3:1" else 8  # samples a step must be a multiple of the ratio's period
    plan = MixingPlan(SIZES, parsed, micro_batch=micro, grad_accum=grad_accum, world_size=world_size)
    total = micro * grad_accum * world_size
    period = sum(parsed.values())
    for step in range(40):
        counts = step_counts(plan, step)
        assert sum(counts.values()) == total
        assert {s: counts[s] for s in parsed} == {s: total * r // period for s, r in parsed.items()}
        for rank in range(world_size):
            micro_batches = plan.rank_step(step, rank)
            assert len(micro_batches) == grad_accum and all(len(m) == micro for m in micro_batches)


@pytest.mark.parametrize("world_size", [1, 2])
def test_cycle_mode_gives_single_source_micro_batches_in_the_configured_pattern(world_size):
    plan = MixingPlan(SIZES, parse_ratio("2:1"), micro_batch=4, grad_accum=3, world_size=world_size, mode="cycle")
    for step in range(20):
        micro = plan.step(step)
        kinds = [{r.source for r in m} for m in micro]
        assert all(len(k) == 1 for k in kinds)                                     # one source a micro-batch
        assert [k.pop() for k in kinds] == ["seg", "seg", "vqa"] * world_size        # OmniGen2's [gen, gen, sft]
        assert step_counts(plan, step) == Counter(seg=8 * world_size, vqa=4 * world_size)


def test_a_ratio_the_layout_cannot_hold_is_refused_with_the_fix():
    with pytest.raises(UserError, match=r"cannot be met exactly by 8 samples a step .* multiple of 3, e\.g\. "
                                        r"train\.micro_batch 6"):
        MixingPlan(SIZES, parse_ratio("2:1"), micro_batch=4, grad_accum=1, world_size=2)
    with pytest.raises(UserError, match=r"cycle mode needs .* multiple of 3, e\.g\. train\.grad_accum 3"):
        MixingPlan(SIZES, parse_ratio("2:1"), micro_batch=6, grad_accum=1, world_size=1, mode="cycle")
    with pytest.raises(UserError, match="asks for seg samples but there are none"):
        MixingPlan({"seg": 0, "vqa": 5}, parse_ratio("2:1"), micro_batch=3, grad_accum=1, world_size=1)
    for bad in ("2", "2:1:1", "a:b", "0:0", "-1:2"):
        with pytest.raises(UserError, match="data.ratio"):
            parse_ratio(bad)


def test_streams_visit_every_item_once_per_epoch_and_continue_across_steps():
    plan = MixingPlan(SIZES, parse_ratio("2:1"), micro_batch=6, grad_accum=1, world_size=1)
    seen = [ref for step in range(37) for micro in plan.step(step) for ref in micro if ref.source == "seg"]
    positions = [ref.position for ref in seen]
    assert positions == list(range(len(positions)))             # no position skipped or repeated
    epochs = [sorted(r.index for r in seen[e * 37:(e + 1) * 37]) for e in range(len(seen) // 37)]
    assert all(epoch == list(range(37)) for epoch in epochs)     # each epoch is a permutation
    assert [r.index for r in seen[:37]] != [r.index for r in seen[37:74]]  # reshuffled each epoch


def test_the_plan_depends_on_the_step_alone_and_the_layout_only_moves_samples():
    one = MixingPlan(SIZES, parse_ratio("2:1"), micro_batch=6, grad_accum=1, world_size=1, seed=3)
    split = MixingPlan(SIZES, parse_ratio("2:1"), micro_batch=1, grad_accum=3, world_size=2, seed=3)
    again = MixingPlan(SIZES, parse_ratio("2:1"), micro_batch=6, grad_accum=1, world_size=1, seed=3)
    for step in (0, 5, 17):
        flat = sorted((r.source, r.position) for m in one.step(step) for r in m)
        assert flat == sorted((r.source, r.position) for m in split.step(step) for r in m)
        assert one.step(step) == again.step(step)


def test_interleave_spreads_the_sources_smoothly():
    assert interleave({"seg": 2, "vqa": 1}) == ["seg", "vqa", "seg"]
    assert Counter(interleave({"seg": 3, "vqa": 2})) == Counter(seg=3, vqa=2)
    assert interleave({"seg": 0, "vqa": 1}) == ["vqa"]
