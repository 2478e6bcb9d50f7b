"""What the mask decoder is given: consensus points as points, or as boxes for a box-trained backbone."""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.cluster.hierarchy import fcluster, linkage


def prompt_boxes(points_xy: np.ndarray, saliency_t: np.ndarray | None, tau: float, cluster_px: float,
                 margin_px: float) -> np.ndarray:
    """(C, 4) boxes (x0, y0, x1, y1) in slice pixels, one per cluster of positive points.

    With a saliency map, a cluster is the connected region of ``S > tau`` holding the points and the box
    bounds that region and the points; without one (frozen baseline), points closer than ``cluster_px``
    are clustered and the box is their bounding box grown by ``margin_px``.
    """
    if len(points_xy) == 0:
        return np.zeros((0, 4))
    boxes = []
    if saliency_t is not None:
        regions, _ = ndimage.label(saliency_t > tau)
        ids = regions[np.clip(np.rint(points_xy[:, 1]).astype(int), 0, regions.shape[0] - 1),
                      np.clip(np.rint(points_xy[:, 0]).astype(int), 0, regions.shape[1] - 1)]
        for region in np.unique(ids):
            members = points_xy[ids == region]
            x0, y0, x1, y1 = members[:, 0].min(), members[:, 1].min(), members[:, 0].max(), members[:, 1].max()
            if region > 0:
                ys, xs = np.nonzero(regions == region)
                x0, y0, x1, y1 = min(x0, xs.min()), min(y0, ys.min()), max(x1, xs.max()), max(y1, ys.max())
            boxes.append([x0 - margin_px, y0 - margin_px, x1 + margin_px, y1 + margin_px])
        return np.array(boxes, float)
    labels = np.ones(len(points_xy), int) if len(points_xy) == 1 else \
        fcluster(linkage(points_xy, method="single"), t=cluster_px, criterion="distance")
    for label in np.unique(labels):
        members = points_xy[labels == label]
        boxes.append([members[:, 0].min() - margin_px, members[:, 1].min() - margin_px,
                      members[:, 0].max() + margin_px, members[:, 1].max() + margin_px])
    return np.array(boxes, float)
