"""Contextual Prompt Distillation (CPD): keep the prompts the saliency prior agrees with.

For slice t with positive prompts P_t and neighbours N_t = {t-n .. t+n} \\ {t}:

1. local validation: ``P_local = {p in P_t : S_t(p) > tau}``;
2. neighbour candidates, each validated on its own slice: ``P_cand = U_j {p in P_j : S_j(p) > tau}``;
3. dual validation on t at the same (x, y): ``P_ctx = {p in P_cand : S_t(p) > tau}``;
4. consensus ``P_t* = P_local U P_ctx``, de-duplicated: a point within ``dedup_px`` of an already kept
   one is dropped (own-slice points first, then nearer neighbours first).

Empty consensus rule: with ``empty="skip"`` (default) a slice whose prompts all disagree with the
prior gets no mask (the prior says the target is not where the user pointed); with ``empty="argmax"``
it is prompted at the saliency maximum instead, if that maximum exceeds tau. Negative prompts are
the user's explicit corrections and pass through unvalidated. Slices without any prompt within
``n`` slices get nothing.

Every prompt is audited: each original positive prompt is ``kept-local`` or ``rejected`` on its own
slice, and every copy borrowed onto another slice is ``kept-neighbour``, each with its saliency. Once the
predictor has decoded a prior's prompts, :meth:`Audit.settled` records the segment's own verdicts: ``left-out`` for
a kept prompt the segment does not reach (the continuity route's 3D check dropped its region, say), ``joined`` for a
rejected prompt inside it (its region joined the structure by overlap), so the audit says which prompts the segment
holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .prompts import Prompts

KEPT_LOCAL, KEPT_NEIGHBOUR, REJECTED, FALLBACK = "kept-local", "kept-neighbour", "rejected", "saliency-argmax"
LEFT_OUT, JOINED = "left-out", "joined"
# the statuses of prompts the segment holds; the others (rejected, left-out) it does not
IN_SEGMENT = (KEPT_LOCAL, KEPT_NEIGHBOUR, JOINED, FALLBACK)
EMPTY_RULES = ("skip", "argmax")


@dataclass(frozen=True)
class CpdConfig:
    """CPD settings (the paper's defaults).

    Attributes:
        tau: saliency threshold a prompt must exceed, in [0, 1).
        neighbours: n, the slices on each side a prompt may be borrowed from (0 = local validation only).
        validate: False passes every prompt through unchecked (the raw-prompt baselines).
        dedup_px: consensus points no farther than this (slice pixels) from a kept one are dropped.
        empty: ``skip`` or ``argmax``, what to do with a slice whose consensus is empty.
    """

    tau: float = 0.5
    neighbours: int = 2
    validate: bool = True
    dedup_px: float = 1.5
    empty: str = "skip"

    def __post_init__(self):
        if not 0.0 <= self.tau < 1.0:
            raise ValueError(f"tau must be in [0, 1), got {self.tau}.")
        if not 0 <= self.neighbours <= 10:
            raise ValueError(f"neighbours (n) must be between 0 and 10, got {self.neighbours}.")
        if self.dedup_px < 0:
            raise ValueError(f"dedup_px must be >= 0, got {self.dedup_px}.")
        if self.empty not in EMPTY_RULES:
            raise ValueError(f"empty must be 'skip' or 'argmax', got {self.empty!r}.")


@dataclass
class Audit:
    """What happened to each prompt (flat arrays, one row per decision).

    Attributes:
        slice_index: (M,) slice the row is about.
        xy: (M, 2) slice pixels.
        source_slice: (M,) slice the point was drawn on.
        status: (M,) one of kept-local, kept-neighbour, rejected, saliency-argmax, and after :meth:`settled`
            left-out or joined.
        saliency: (M,) S on ``slice_index`` at ``xy``.
    """

    slice_index: np.ndarray
    xy: np.ndarray
    source_slice: np.ndarray
    status: np.ndarray
    saliency: np.ndarray

    def count(self, status: str) -> int:
        return int(np.sum(self.status == status))

    def in_segment(self) -> np.ndarray:
        """(M,) bool: the rows whose prompt the segment holds (their status is one of ``IN_SEGMENT``)."""
        return np.isin(self.status, IN_SEGMENT)

    def settled(self, structure: np.ndarray, reach_px: int = 2) -> "Audit":
        """The audit with the verdicts of the segment decoded from the kept prompts, given as an (S, H, W) bool
        slice-stack mask: a kept row whose pixel lies farther than ``reach_px`` pixels (a square window) from it
        becomes left-out (a 3D check dropped its region, an outline cut it off, its box found nothing), a rejected
        row whose pixel lies inside it becomes joined (its region joined the structure by overlap, or the segment
        covers it)."""
        status = self.status.copy()
        kept = np.isin(status, (KEPT_LOCAL, KEPT_NEIGHBOUR))
        status[kept & ~within_reach(structure, self.slice_index, self.xy, reach_px)] = LEFT_OUT
        status[(status == REJECTED) & within_reach(structure, self.slice_index, self.xy, 0)] = JOINED
        return replace(self, status=status)

    def descriptions(self, prior: str = "") -> list[str]:
        """One line per row: status, saliency (and which prior gave it), slice and, for borrowed points, the
        source slice."""
        named = f" ({prior})" if prior else ""
        return [f"{status}; saliency {s:.3f}{named}; slice {t}" + (f"; from slice {j}" if j not in (t, -1) else "")
                for status, s, t, j in zip(self.status, self.saliency, self.slice_index, self.source_slice)]

    def to_lps(self, volume, axis: int) -> np.ndarray:
        """(M, 3) LPS positions of the rows."""
        return Prompts(self.slice_index, self.xy, np.ones(len(self.slice_index), bool)).to_lps(volume, axis)


@dataclass
class Consensus:
    """CPD's output: the prompts to decode with, per slice, and the audit."""

    prompts: Prompts
    audit: Audit
    slices: np.ndarray = field(default_factory=lambda: np.zeros(0, int))


def nearest_pixels(xy: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) integer columns and rows of the pixels of an (H, W) slice nearest to (N, 2) ``xy``."""
    xy = np.rint(np.asarray(xy, float).reshape(-1, 2)).astype(int)
    return np.clip(xy[:, 0], 0, width - 1), np.clip(xy[:, 1], 0, height - 1)


def square_windows(xy: np.ndarray, reach_px: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, w, w) rows and columns of the square window of half-width ``reach_px`` around each pixel nearest to
    (N, 2) ``xy``, clipped to the (H, W) slice (0: the pixel itself)."""
    x, y = nearest_pixels(xy, height, width)
    window = np.arange(-reach_px, reach_px + 1)
    return (np.clip(y[:, None, None] + window[None, :, None], 0, height - 1),
            np.clip(x[:, None, None] + window[None, None, :], 0, width - 1))


def saliency_at(saliency_t: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """S at the pixels nearest to (N, 2) ``xy`` on one (H, W) saliency map."""
    if len(xy) == 0:
        return np.zeros(0, np.float32)
    x, y = nearest_pixels(xy, *saliency_t.shape)
    return saliency_t[y, x]


def within_reach(structure: np.ndarray, slice_index: np.ndarray, xy: np.ndarray, reach_px: int) -> np.ndarray:
    """(N,) bool: which points (their slice and (x, y) pixel, clipped to the slice) have a pixel of the (S, H, W)
    ``structure`` within ``reach_px`` pixels (a square window; 0: the point's own pixel)."""
    ys, xs = square_windows(xy, reach_px, *structure.shape[1:])
    return structure[np.asarray(slice_index, int)[:, None, None], ys, xs].any(axis=(1, 2))


def _deduplicate(points: np.ndarray, radius: float) -> np.ndarray:
    """Indices of ``points`` kept in order, skipping any within ``radius`` of one already kept."""
    if radius == 0:
        return np.arange(len(points))
    kept: list[int] = []
    for index, point in enumerate(points):
        if all(np.hypot(*(point - points[k])) > radius for k in kept):
            kept.append(index)
    return np.array(kept, int)


def distil_prompts(prompts: Prompts, saliency: np.ndarray | None, config: CpdConfig = CpdConfig()) -> Consensus:
    """Run CPD on every slice.

    Args:
        prompts: the noisy prompts (positive ones are validated, negative ones pass through).
        saliency: (S, H, W) float in [0, 1] on slice pixels; None only with ``config.validate=False``.
        config: tau, n and the rules above.
    """
    if saliency is None and config.validate:
        raise ValueError("CPD needs a saliency map; use validate=False for raw prompts.")
    n_slices = len(saliency) if saliency is not None else int(prompts.slice_index.max(initial=-1)) + 1
    positive = prompts.select(prompts.positive)
    own_s = np.ones(len(positive), np.float32)
    if saliency is not None:
        for t in positive.slices:
            on = positive.slice_index == t
            own_s[on] = saliency_at(saliency[t], positive.xy[on])
    own_valid = own_s > config.tau if config.validate else np.ones(len(positive), bool)

    rows: list[tuple] = [(t, xy, t, KEPT_LOCAL if ok else REJECTED, s)
                         for t, xy, ok, s in zip(positive.slice_index, positive.xy, own_valid, own_s)]
    out_t, out_xy = [], []
    reach = config.neighbours if config.validate else 0
    candidate_slices = sorted({int(t + d) for t in positive.slices for d in range(-reach, reach + 1)
                               if 0 <= t + d < n_slices})
    for t in candidate_slices:
        ordered = [(0, t)] + [(abs(d), t + d) for d in sorted(range(-reach, reach + 1), key=abs) if d]
        points, sources = [], []
        for _, j in ordered:
            if not 0 <= j < n_slices:
                continue
            pick = (positive.slice_index == j) & own_valid
            cand = positive.xy[pick]
            if j != t and len(cand):
                cand = cand[saliency_at(saliency[t], cand) > config.tau]
            points.append(cand)
            sources.append(np.full(len(cand), j))
        points, sources = np.concatenate(points), np.concatenate(sources)
        keep = _deduplicate(points, config.dedup_px) if len(points) else np.zeros(0, int)
        points, sources = points[keep], sources[keep]
        if len(points) == 0 and config.empty == "argmax" and saliency is not None and saliency[t].max() > config.tau:
            y, x = np.unravel_index(np.argmax(saliency[t]), saliency[t].shape)
            points, sources = np.array([[x, y]], float), np.array([-1])
            rows.append((t, points[0], -1, FALLBACK, float(saliency[t, y, x])))
        for xy, j in zip(points, sources):
            if j != t and j >= 0:
                rows.append((t, xy, j, KEPT_NEIGHBOUR, float(saliency_at(saliency[t], xy[None])[0])))
        out_t += [t] * len(points)
        out_xy += list(points)
    negatives = prompts.select(~prompts.positive)
    kept = Prompts(np.array(out_t, int), np.reshape(out_xy, (-1, 2)), np.ones(len(out_t), bool))
    decoded_slices = np.unique(kept.slice_index)
    negatives = negatives.select(np.isin(negatives.slice_index, decoded_slices))
    audit = Audit(np.array([r[0] for r in rows], int), np.reshape([r[1] for r in rows], (-1, 2)),
                  np.array([r[2] for r in rows], int), np.array([r[3] for r in rows], dtype=object),
                  np.array([r[4] for r in rows], np.float32))
    return Consensus(kept + negatives, audit, decoded_slices)
