"""Overlap and surface-distance metrics in physical units, and a paired significance test.

Conventions (as MONAI's): a metric that is undefined is NaN: Dice and IoU when both masks are empty,
HD95 and ASSD when either is empty. HD95 is the larger of the two directed 95th percentiles of the
surface-to-surface distances; ASSD the mean of all of them. Distances are in mm (``spacing``).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage, stats


def compute_dice(prediction: np.ndarray, reference: np.ndarray) -> float:
    prediction, reference = np.asarray(prediction, bool), np.asarray(reference, bool)
    total = prediction.sum() + reference.sum()
    return float("nan") if total == 0 else float(2.0 * np.logical_and(prediction, reference).sum() / total)


def compute_iou(prediction: np.ndarray, reference: np.ndarray) -> float:
    prediction, reference = np.asarray(prediction, bool), np.asarray(reference, bool)
    union = np.logical_or(prediction, reference).sum()
    return float("nan") if union == 0 else float(np.logical_and(prediction, reference).sum() / union)


def _surface(mask: np.ndarray) -> np.ndarray:
    return mask & ~ndimage.binary_erosion(mask, structure=ndimage.generate_binary_structure(mask.ndim, 1),
                                          border_value=0)


def surface_distances(prediction: np.ndarray, reference: np.ndarray, spacing) -> tuple[np.ndarray, np.ndarray]:
    """Distances (mm) from each prediction surface voxel to the reference surface, and back.

    ``spacing`` is given per array axis (for a (K, J, I) array: (sk, sj, si)).
    """
    prediction, reference = np.asarray(prediction, bool), np.asarray(reference, bool)
    surface_p, surface_r = _surface(prediction), _surface(reference)
    to_r = ndimage.distance_transform_edt(~surface_r, sampling=spacing)
    to_p = ndimage.distance_transform_edt(~surface_p, sampling=spacing)
    return to_r[surface_p], to_p[surface_r]


def compute_hd95(prediction: np.ndarray, reference: np.ndarray, spacing) -> float:
    if not np.any(prediction) or not np.any(reference):
        return float("nan")
    forward, backward = surface_distances(prediction, reference, spacing)
    return float(max(np.percentile(forward, 95), np.percentile(backward, 95)))


def compute_assd(prediction: np.ndarray, reference: np.ndarray, spacing) -> float:
    if not np.any(prediction) or not np.any(reference):
        return float("nan")
    forward, backward = surface_distances(prediction, reference, spacing)
    return float(np.concatenate([forward, backward]).mean())


def all_metrics(prediction: np.ndarray, reference: np.ndarray, spacing) -> dict[str, float]:
    return {"dsc": compute_dice(prediction, reference), "iou": compute_iou(prediction, reference),
            "hd95_mm": compute_hd95(prediction, reference, spacing),
            "assd_mm": compute_assd(prediction, reference, spacing)}


def volume_and_slice_metrics(prediction_kji: np.ndarray, reference_kji: np.ndarray, spacing_ijk,
                             axis: int = 2) -> dict:
    """Metrics over the volume and on every slice (along IJK ``axis``) where either mask is non-empty."""
    from .slices import to_stack

    spacing_kji = tuple(float(s) for s in np.asarray(spacing_ijk)[::-1])
    result = {"volume": all_metrics(prediction_kji, reference_kji, spacing_kji), "slices": []}
    in_plane = tuple(s for a, s in enumerate(spacing_kji) if a != 2 - axis)
    pred_stack, ref_stack = to_stack(np.asarray(prediction_kji, bool), axis), to_stack(np.asarray(reference_kji, bool), axis)
    for t in range(len(pred_stack)):
        if pred_stack[t].any() or ref_stack[t].any():
            result["slices"].append({"slice": t, **all_metrics(pred_stack[t], ref_stack[t], in_plane)})
    return result


def paired_wilcoxon(a, b) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired samples (NaN pairs dropped; 1.0 if all equal)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if len(a) == 0 or np.allclose(a, b):
        return 1.0 if len(a) else float("nan")
    return float(stats.wilcoxon(a, b).pvalue)


def mean_sd(values) -> tuple[float, float]:
    values = np.asarray([v for v in values if v is not None and not math.isnan(v)], float)
    if len(values) == 0:
        return float("nan"), float("nan")
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0
