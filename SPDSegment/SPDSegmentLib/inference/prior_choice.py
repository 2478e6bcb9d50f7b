"""Which prior checks the prompts of a run, and why: the learned saliency, the continuity of the prompts
themselves, or none at all.

- ``learned``: the adapter's saliency head (the paper's SPD).
- ``none``: no learned prior; the prompts are checked against each other
  (:mod:`.continuity_prior`) and decoded with fitted boxes. If they do not form one continuous
  structure, they are checked again with the continuity prior's wider check (n of the 3n nearest prompted
  slices); only if that finds none either is every prompt decoded as given (``raw``): a few clicks that nothing
  competes with with one box size fitted to the structure, the masks carried slice by slice
  (:mod:`.click_carrying`); other prompts with one plain box per cluster. Clicks that do form a structure and that
  nothing competes with are carried the same way past the clicked slices. The run says which.
- ``raw``: every prompt as given, one box per cluster (the frozen-backbone baseline).
- ``auto`` (default): the learned prior where it agrees with the prompts, else ``none``. A prior trained
  on other scans can reject every prompt of a real one; the run then says that it overruled it.

Agreement is measured on the prompts the continuity prior keeps (those that form the traced structure):
the share of them the learned prior accepts. When it keeps none, the share of all the prompts is measured
instead, so a learned prior that rejects most of the prompts never leaves the run empty. At least
``MIN_AGREEMENT`` keeps the learned prior for the volume; on a slice where it rejects every prompt the
continuity prior keeps, it is overruled there only.
Below that the volume takes the continuity route, except on the slices where the learned prior does accept a
prompt the continuity prior keeps: there both priors agree, and the adapter's tuned decoder segments the slice
from the prompts the continuity prior keeps, checked by the learned prior as on its own route.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..errors import InputError
from .cpd import saliency_at
from .prompts import Prompts

PRIORS = ("auto", "learned", "none", "raw")
LEARNED, CONTINUITY, RAW = "learned", "continuity", "raw"
MIN_AGREEMENT = 0.5
# the continuity route needs this share of the prompted slices (and two slices at least) to keep a prompt
MIN_STRUCTURE_SLICES = 0.3


@dataclass(frozen=True)
class PriorChoice:
    """The route a run took.

    Attributes:
        route: ``learned``, ``continuity`` or ``raw``.
        reason: one line for the user when the route is not the one asked for ('' otherwise).
        agreement: share of the continuity-kept prompts the learned prior accepted (None without a head).
        overruled_slices: slices where the continuity prior replaced the learned one.
        agreed_slices: on the continuity route, slices where the learned prior accepted a prompt the
            continuity prior kept; the learned route segments them (also where the tuned decoder drew the outline).
        tuned_outline: on the continuity route, whether the adapter's tuned decoder drew the outline of every
            slice within the structure the fitted boxes found.
        tuned_outline_inside: the share of the tuned decoder's mask that lay inside that structure (None when no
            tuned decoder was asked).
        tuned_outline_cover: the share of that structure the tuned decoder's mask covered (None likewise).
        drift_slices: on the continuity route, the slices of a region beside the traced structure that a curve's
            prompts ran along and that was left out because the learned prior accepts none of its prompts while it
            accepts some of the structure's (:func:`.box_fitting.keep_supported_regions`).
    """

    route: str
    reason: str = ""
    agreement: float | None = None
    overruled_slices: tuple[int, ...] = ()
    agreed_slices: tuple[int, ...] = ()
    tuned_outline: bool = False
    tuned_outline_inside: float | None = None
    tuned_outline_cover: float | None = None
    drift_slices: tuple[int, ...] = ()

    def noted(self, note: str) -> "PriorChoice":
        """This choice with ``note`` added to its reason (after a '; ' where it already has one)."""
        return replace(self, reason=f"{self.reason}; {note}" if self.reason else note)

    @property
    def outline_note(self) -> str:
        """One line for the user when the tuned decoder drew the outline ('' otherwise)."""
        if not self.tuned_outline:
            return ""
        return (f"The adapter's tuned decoder drew the outline: {100 * self.tuned_outline_inside:.0f} % of its mask "
                "lay inside the structure the prompts trace.")

    @property
    def drift_note(self) -> str:
        """One line for the user when a region the curve ran along was left out ('' otherwise)."""
        if not self.drift_slices:
            return ""
        first, last = self.drift_slices[0], self.drift_slices[-1]
        where = f"slice {first}" if first == last else f"slices {first}-{last}"
        return (f"On {where} the curve also ran along a second structure beside the one it traces; it was left out, "
                "since the learned prior accepts none of the prompts on it and some on the traced one.")

    @property
    def label(self) -> str:
        return {LEARNED: "learned prior", CONTINUITY: "continuity prior", RAW: "no prior"}[self.route]


def accepted_by(saliency: np.ndarray, prompts: Prompts, tau: float) -> np.ndarray:
    """(N,) bool: which of ``prompts`` the saliency map (S, H, W) accepts (S > tau where it lies)."""
    accepted = np.zeros(len(prompts), bool)
    for t in prompts.slices:
        on = prompts.slice_index == t
        accepted[on] = saliency_at(saliency[t], prompts.xy[on]) > tau
    return accepted


def choose_prior(requested: str, learned: np.ndarray | None, continuity: np.ndarray, prompts: Prompts,
                 tau: float) -> PriorChoice:
    """The route for ``requested`` (see the module docstring), given both saliency maps on the slice stack.

    Raises:
        InputError: ``learned`` asked of a model without a saliency head.
    """
    if requested not in PRIORS:
        raise InputError(f"prior must be one of {', '.join(PRIORS)}, got {requested!r}.")
    if requested == "raw":
        return PriorChoice(RAW)
    if requested == "learned":
        if learned is None:
            raise InputError("This model has no learned prior (no saliency head); use prior auto or none.")
        return PriorChoice(LEARNED)
    if requested == "none" or learned is None:
        return PriorChoice(CONTINUITY)
    positive = prompts.select(prompts.positive)
    consistent = accepted_by(continuity, positive, tau)
    learned_ok = accepted_by(learned, positive, tau)
    if not consistent.any():
        # nothing to measure agreement on: the learned prior alone decides, unless it rejects most prompts
        accepted = int(learned_ok.sum())
        if accepted >= MIN_AGREEMENT * len(positive):
            return PriorChoice(LEARNED, agreement=None)
        return PriorChoice(CONTINUITY, f"the learned prior was overruled for this volume: it accepted {accepted} of "
                                       f"the {len(positive)} prompts (it needs {100 * MIN_AGREEMENT:.0f} %)", None)
    agreement = float(learned_ok[consistent].mean())
    on_slice = [positive.slice_index == t for t in positive.slices]
    if agreement < MIN_AGREEMENT:
        both = consistent & learned_ok
        agreed = tuple(int(t) for t, on in zip(positive.slices, on_slice) if both[on].any())
        kept_on = (f"; it still segments the {len(agreed)} slice(s) where it accepted one of them" if agreed else "")
        return PriorChoice(CONTINUITY, f"the learned prior was overruled for this volume: it accepted "
                                       f"{int(learned_ok[consistent].sum())} of the {int(consistent.sum())} prompts "
                                       f"that agree with their neighbours (it needs {100 * MIN_AGREEMENT:.0f} %), so "
                                       f"the prompts were checked against each other instead{kept_on}", agreement,
                           agreed_slices=agreed)
    overruled = tuple(int(t) for t, on in zip(positive.slices, on_slice)
                      if consistent[on].any() and not learned_ok[on].any())
    reason = (f"the learned prior was overruled on {len(overruled)} slice(s) where it rejected every prompt that "
              f"agrees with its neighbours ({', '.join(map(str, overruled[:8]))}{'…' if len(overruled) > 8 else ''})"
              if overruled else "")
    return PriorChoice(LEARNED, reason, agreement, overruled)


def structure_found(kept: Prompts, prompts: Prompts) -> bool:
    """Whether the prompts the continuity prior kept span enough slices to be one traced structure."""
    prompted = len(prompts.select(prompts.positive).slices)
    return len(kept.select(kept.positive).slices) >= max(2, MIN_STRUCTURE_SLICES * prompted)
