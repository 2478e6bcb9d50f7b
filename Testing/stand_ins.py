"""Stand-ins shared by the tests of the fitted boxes and of the continuity prior: a disc on a slice, and a decoder
that answers every box with the disc inscribed in it."""

import numpy as np

SLICE_SHAPE = (60, 80)


def disc(centre, radius, shape=SLICE_SHAPE) -> np.ndarray:
    """(H, W) bool: the pixels within ``radius`` px of ``centre`` (x, y)."""
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    return np.hypot(xx - centre[0], yy - centre[1]) <= radius


class InscribedDiscDecoder:
    """A stand-in decoder: every box gives the disc inscribed in it, predicted IoU by the box's half-width (0.5 for
    a width not listed). Records the slices and boxes it decoded, in order."""

    def __init__(self, iou_by_half_px=None, shape=SLICE_SHAPE):
        self.iou_by_half_px = iou_by_half_px or {}
        self.shape = shape
        self.boxes = []
        self.slices = []

    def __call__(self, slices, boxes):
        self.slices += [int(t) for t in slices]
        self.boxes += [np.asarray(b, float) for b in boxes]
        masks = [disc((box[:2] + box[2:]) / 2, (box[2] - box[0]) / 2, self.shape) for box in boxes]
        iou = [self.iou_by_half_px.get(round(float(box[2] - box[0]) / 2, 3), 0.5) for box in boxes]
        return np.array(masks), np.array(iou)
