"""CPD on hand-built cases whose answer is known, and its invariants (hypothesis)."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from SPDSegmentLib.inference.cpd import (FALLBACK, JOINED, KEPT_LOCAL, KEPT_NEIGHBOUR, LEFT_OUT, REJECTED, CpdConfig,
                                         distil_prompts)
from SPDSegmentLib.inference.decoder_prompts import prompt_boxes
from SPDSegmentLib.inference.prompts import Prompts


def saliency_with_blob(n_slices=5, size=20, blob=((5, 10), (5, 10)), on=(0, 1, 2, 3, 4), value=0.9):
    saliency = np.full((n_slices, size, size), 0.1, np.float32)
    (y0, y1), (x0, x1) = blob
    for t in on:
        saliency[t, y0:y1, x0:x1] = value
    return saliency


def prompts(*rows, positive=True):
    return Prompts(np.array([r[0] for r in rows]), np.array([r[1:] for r in rows], float),
                   np.full(len(rows), positive))


def test_keeps_salient_prompt_and_rejects_one_with_low_saliency_on_its_slice():
    result = distil_prompts(prompts((2, 7, 7), (2, 15, 15)), saliency_with_blob(), CpdConfig(neighbours=0))
    assert result.prompts.on_slice(2).tolist() == [[7.0, 7.0]]
    statuses = dict(zip(map(tuple, result.audit.xy.tolist()), result.audit.status))
    assert statuses[(7.0, 7.0)] == KEPT_LOCAL and statuses[(15.0, 15.0)] == REJECTED
    assert result.audit.saliency[result.audit.status == REJECTED][0] == pytest.approx(0.1)


def test_borrows_validated_neighbour_prompt_onto_a_slice_without_prompts():
    result = distil_prompts(prompts((1, 7, 7)), saliency_with_blob(), CpdConfig(neighbours=2))
    assert result.slices.tolist() == [0, 1, 2, 3]
    borrowed = result.audit.status == KEPT_NEIGHBOUR
    assert sorted(result.audit.slice_index[borrowed].tolist()) == [0, 2, 3]
    assert set(result.audit.source_slice[borrowed].tolist()) == {1}


def test_rejects_neighbour_prompt_where_the_current_slice_disagrees():
    saliency = saliency_with_blob(on=(1, 2))  # the target ends after slice 2
    result = distil_prompts(prompts((2, 7, 7)), saliency, CpdConfig(neighbours=2))
    assert 3 not in result.slices and 4 not in result.slices and 1 in result.slices


def test_neighbour_prompt_invalid_on_its_own_slice_is_not_borrowed():
    saliency = saliency_with_blob(on=(2,))
    saliency[2, 12:18, 12:18] = 0.9
    # (15, 15) is salient on slice 2 but the prompt sits on slice 1 where it is not
    result = distil_prompts(prompts((1, 15, 15)), saliency, CpdConfig(neighbours=2))
    assert len(result.prompts) == 0 and result.audit.count(REJECTED) == 1


def test_empty_consensus_skips_the_slice_or_falls_back_to_saliency_maximum():
    saliency = saliency_with_blob(on=(2,))
    skipped = distil_prompts(prompts((2, 15, 15)), saliency, CpdConfig(neighbours=0, empty="skip"))
    assert len(skipped.slices) == 0
    fallback = distil_prompts(prompts((2, 15, 15)), saliency, CpdConfig(neighbours=0, empty="argmax"))
    assert fallback.slices.tolist() == [2] and fallback.audit.count(FALLBACK) == 1
    x, y = fallback.prompts.on_slice(2)[0]
    assert saliency[2, int(y), int(x)] == pytest.approx(0.9)


def test_near_identical_points_are_deduplicated_own_slice_first():
    result = distil_prompts(prompts((2, 7, 7), (1, 7.5, 7)), saliency_with_blob(), CpdConfig(neighbours=1))
    assert result.prompts.on_slice(2).tolist() == [[7.0, 7.0]]


def test_negative_points_pass_through_on_decoded_slices_only():
    both = prompts((2, 7, 7)) + prompts((2, 15, 15), (4, 1, 1), positive=False)
    result = distil_prompts(both, saliency_with_blob(), CpdConfig(neighbours=0))
    assert result.prompts.on_slice(2, positive=False).tolist() == [[15.0, 15.0]]
    assert len(result.prompts.on_slice(4)) == 0


def test_raw_mode_keeps_every_prompt_without_a_saliency_map():
    raw = prompts((2, 7, 7), (2, 15, 15), (3, 1, 1))
    result = distil_prompts(raw, None, CpdConfig(validate=False))
    assert len(result.prompts) == 3 and result.audit.count(KEPT_LOCAL) == 3


def test_config_rejects_out_of_range_values():
    with pytest.raises(ValueError, match="tau"):
        CpdConfig(tau=1.5)
    with pytest.raises(ValueError, match="neighbours"):
        CpdConfig(neighbours=-1)


def test_one_box_per_salient_region_holding_points():
    saliency = np.zeros((20, 40), np.float32)
    saliency[2:6, 2:8] = 0.9
    saliency[10:15, 25:35] = 0.9
    boxes = prompt_boxes(np.array([[3.0, 3.0], [5.0, 4.0], [30.0, 12.0]]), saliency, 0.5, 5, 0)
    assert sorted(boxes.tolist()) == [[2, 2, 7, 5], [25, 10, 34, 14]]
    no_prior = prompt_boxes(np.array([[3.0, 3.0], [5.0, 4.0], [30.0, 12.0]]), None, 0.5, 5, 1)
    assert sorted(no_prior.tolist()) == [[2, 2, 6, 5], [29, 11, 31, 13]]


point_rows = st.lists(st.tuples(st.integers(0, 5), st.floats(0, 11), st.floats(0, 11)), min_size=1, max_size=12)


def distil_on_random_saliency(rows, seed, taus, n):
    saliency = np.random.default_rng(seed).random((6, 12, 12)).astype(np.float32)
    noisy = prompts(*rows)
    return noisy, [distil_prompts(noisy, saliency, CpdConfig(tau=tau, neighbours=n, dedup_px=0)) for tau in taus]


@settings(max_examples=60, deadline=None)
@given(rows=point_rows, seed=st.integers(0, 1000), tau=st.floats(0.05, 0.9), n=st.integers(0, 3))
def test_consensus_only_holds_points_drawn_on_the_slice_or_its_neighbours(rows, seed, tau, n):
    noisy, [result] = distil_on_random_saliency(rows, seed, [tau], n)
    for t, xy in zip(result.prompts.slice_index, result.prompts.xy):
        near = (np.abs(noisy.slice_index - t) <= n) & np.all(noisy.xy == xy, axis=1)
        assert near.any()


@settings(max_examples=60, deadline=None)
@given(rows=point_rows, seed=st.integers(0, 1000), tau=st.floats(0.05, 0.8), n=st.integers(0, 3))
def test_raising_tau_never_adds_a_prompt(rows, seed, tau, n):
    _, (low, high) = distil_on_random_saliency(rows, seed, [tau, tau + 0.1], n)
    low_set = {(t, *xy) for t, xy in zip(low.prompts.slice_index, map(tuple, low.prompts.xy))}
    high_set = {(t, *xy) for t, xy in zip(high.prompts.slice_index, map(tuple, high.prompts.xy))}
    assert high_set <= low_set


def test_the_defaults_are_the_papers_and_the_ranges_are_inclusive():
    defaults = CpdConfig()
    assert (defaults.tau, defaults.neighbours, defaults.validate, defaults.dedup_px, defaults.empty) == (
        0.5, 2, True, 1.5, "skip")
    assert CpdConfig(tau=0.0).tau == 0.0 and CpdConfig(neighbours=10).neighbours == 10
    with pytest.raises(ValueError, match="neighbours"):
        CpdConfig(neighbours=11)


def test_a_prompt_exactly_at_tau_is_rejected():
    saliency = saliency_with_blob(value=0.5)
    result = distil_prompts(prompts((2, 7, 7)), saliency, CpdConfig(neighbours=0))
    assert len(result.prompts) == 0 and result.audit.count(REJECTED) == 1


def test_a_neighbour_after_the_slice_is_checked_on_the_slice_too():
    saliency = saliency_with_blob(on=(2, 3))  # the target starts at slice 2
    result = distil_prompts(prompts((2, 7, 7)), saliency, CpdConfig(neighbours=2))
    assert result.slices.tolist() == [2, 3]


def test_audit_counts_and_descriptions_by_hand():
    saliency = saliency_with_blob(on=(1, 2))
    saliency[3, 15, 15] = 0.8                       # slice 3's maximum, off the prompts
    result = distil_prompts(prompts((1, 7, 7), (3, 2, 2)), saliency, CpdConfig(neighbours=1, empty="argmax"))
    audit = result.audit
    assert [audit.count(s) for s in (KEPT_LOCAL, KEPT_NEIGHBOUR, REJECTED, FALLBACK)] == [1, 1, 1, 1]
    assert audit.source_slice[audit.status == FALLBACK].tolist() == [-1]
    assert sorted(audit.descriptions()) == sorted([
        "kept-local; saliency 0.900; slice 1",
        "rejected; saliency 0.100; slice 3",
        "kept-neighbour; saliency 0.900; slice 2; from slice 1",
        "saliency-argmax; saliency 0.800; slice 3"])
    assert "kept-neighbour; saliency 0.900 (continuity); slice 2; from slice 1" in audit.descriptions("continuity")


def test_the_fitted_structure_settles_which_prompts_the_segment_holds():
    from SPDSegmentLib.inference.cpd import Audit

    structure = np.zeros((3, 20, 20), bool)
    structure[1, 5:10, 5:10] = True
    structure[2, 0:3, 17:20] = True                 # at the slice's edge
    rows = [(1, (7.0, 7.0), KEPT_LOCAL),      # inside: stays
            (1, (11.4, 7.0), KEPT_LOCAL),     # 2 pixels off the edge (x 9): within reach, stays
            (1, (12.0, 7.0), KEPT_NEIGHBOUR),  # 3 pixels off: the structure does not reach it
            (2, (7.0, 7.0), KEPT_LOCAL),      # same pixel, a slice with no structure
            (1, (9.0, 9.0), REJECTED),        # inside (its region joined): joined
            (1, (10.0, 9.0), REJECTED),       # next to it, outside: stays rejected
            (1, (7.0, 7.0), FALLBACK),        # not the prior's verdict on a prompt: untouched
            (1, (25.0, 7.0), REJECTED),       # off the slice: its nearest pixel (x 19) is outside
            (2, (23.0, 1.0), REJECTED)]       # off the slice: its nearest pixel (x 19) is inside
    # 2 pixels off each of the other edges (x 5, y 5, y 9) is within reach, 3 pixels off is not
    rows += [(1, xy, KEPT_LOCAL) for xy in ((3.0, 7.0), (2.0, 7.0), (7.0, 3.0), (7.0, 2.0), (7.0, 11.0), (7.0, 12.0))]
    audit = Audit(np.array([r[0] for r in rows]), np.array([r[1] for r in rows]), np.array([r[0] for r in rows]),
                  np.array([r[2] for r in rows], dtype=object), np.full(len(rows), 0.7, np.float32))
    settled = audit.settled(structure, reach_px=2)
    assert settled.status.tolist() == [KEPT_LOCAL, KEPT_LOCAL, LEFT_OUT, LEFT_OUT, JOINED, REJECTED, FALLBACK,
                                       REJECTED, JOINED] + [KEPT_LOCAL, LEFT_OUT] * 3
    assert settled.in_segment().tolist()[:9] == [True, True, False, False, True, False, True, False, True]
    assert audit.status[2] == KEPT_NEIGHBOUR  # the audit it came from is left as it was
    assert settled.settled(structure, reach_px=3).status[2] == LEFT_OUT  # a verdict, once given, stays
    assert audit.settled(structure, reach_px=3).status[2] == KEPT_NEIGHBOUR
    assert settled.descriptions()[2] == "left-out; saliency 0.700; slice 1"


def test_a_consensus_made_without_slices_has_none_and_no_points_have_no_saliency():
    from SPDSegmentLib.inference.cpd import Audit, Consensus, saliency_at

    empty = np.zeros(0)
    consensus = Consensus(Prompts.empty(), Audit(empty, np.zeros((0, 2)), empty, empty, empty))
    assert consensus.slices.shape == (0,)
    assert saliency_at(np.ones((4, 4)), np.zeros((0, 2))).shape == (0,)


def test_saliency_is_read_at_the_nearest_pixel_clipped_to_the_map():
    from SPDSegmentLib.inference.cpd import saliency_at

    saliency = np.arange(16, dtype=np.float32).reshape(4, 4)  # value = 4 * row + column
    xy = np.array([[0.0, 2.0], [-0.6, 1.0], [2.0, -0.6], [1.0, 10.0], [9.0, 3.4]])
    assert saliency_at(saliency, xy).tolist() == [8.0, 4.0, 2.0, 13.0, 15.0]


def test_a_negative_tau_is_refused_and_raw_prompts_on_the_first_slice_stay():
    with pytest.raises(ValueError, match="tau"):
        CpdConfig(tau=-0.1)
    result = distil_prompts(prompts((0, 3, 3)), None, CpdConfig(validate=False))
    assert result.slices.tolist() == [0] and result.prompts.on_slice(0).tolist() == [[3.0, 3.0]]


def test_a_neighbour_exactly_at_tau_on_the_slice_is_not_borrowed():
    saliency = saliency_with_blob(on=(1,))
    saliency[2, 5:10, 5:10] = 0.5
    result = distil_prompts(prompts((1, 7, 7)), saliency, CpdConfig(neighbours=1))
    assert result.slices.tolist() == [1]
    everywhere = distil_prompts(prompts((1, 7, 7)), saliency_with_blob(), CpdConfig(neighbours=1))
    assert everywhere.slices.tolist() == [0, 1, 2]  # n = 1 reaches one slice on each side


def test_between_two_neighbours_the_previous_slice_is_consulted_first():
    result = distil_prompts(prompts((1, 7, 7), (3, 7.5, 7)), saliency_with_blob(), CpdConfig(neighbours=1))
    borrowed = (result.audit.slice_index == 2) & (result.audit.status == KEPT_NEIGHBOUR)
    assert result.audit.source_slice[borrowed].tolist() == [1]  # slice 3's point is a duplicate of it there
    assert result.prompts.on_slice(2).tolist() == [[7.0, 7.0]]


def test_tau_one_is_refused_dedup_zero_keeps_repeats_and_the_empty_rule_compares_by_value():
    with pytest.raises(ValueError, match="tau"):
        CpdConfig(tau=1.0)
    repeated = distil_prompts(prompts((2, 7, 7), (2, 7, 7)), saliency_with_blob(), CpdConfig(neighbours=0, dedup_px=0))
    assert repeated.prompts.on_slice(2).tolist() == [[7.0, 7.0], [7.0, 7.0]]
    typed = "".join(["arg", "max"])  # a string built at run time, as one read from a command line or a file
    saliency = saliency_with_blob(on=(2,))
    fallback = distil_prompts(prompts((2, 15, 15)), saliency, CpdConfig(neighbours=0, empty=typed))
    assert fallback.audit.count(FALLBACK) == 1


def test_argmax_fills_only_slices_within_n_of_a_prompt_and_only_above_tau():
    saliency = np.full((9, 12, 12), 0.9, np.float32)
    saliency[:, 3, 4] = 0.95  # each slice's argmax
    result = distil_prompts(prompts((4, 6.0, 6.0)), saliency, CpdConfig(neighbours=1, empty="argmax"))
    assert result.slices.tolist() == [3, 4, 5]  # never 2 or 6, one slice past the reach
    at_tau = np.full((3, 12, 12), 0.5, np.float32)
    at_tau[0, 6, 6] = 0.9
    result = distil_prompts(prompts((0, 6.0, 6.0)), at_tau, CpdConfig(neighbours=1, empty="argmax"))
    assert FALLBACK not in result.audit.status.tolist()  # slice 1's best is exactly tau: not above it
    assert result.slices.tolist() == [0]


def test_points_exactly_dedup_px_apart_count_as_one_and_a_negative_dedup_is_refused():
    result = distil_prompts(prompts((2, 6.0, 7.0), (2, 8.0, 7.0)), saliency_with_blob(),
                            CpdConfig(neighbours=0, dedup_px=2.0))
    assert result.prompts.on_slice(2).tolist() == [[6.0, 7.0]]
    with pytest.raises(ValueError, match="dedup_px must be >= 0"):
        CpdConfig(dedup_px=-0.5)


def test_a_config_cannot_be_changed_once_made():
    with pytest.raises(dataclasses.FrozenInstanceError):
        CpdConfig().tau = 0.1
