"""BlazeFace short-range face detection: anchors, box decoding, weighted NMS.

Runs only when landmark tracking has no face, so its cost is off the per-frame path.
The constants are those of MediaPipe's face_detection_short_range graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

INPUT = 128
MIN_SUPPRESSION_IOU = 0.3
SCORE_CLIP = 100.0


def ssd_anchors() -> np.ndarray:
    """(896, 2) anchor centres in [0, 1] for strides 8, 16, 16, 16 (fixed size 1)."""
    strides = [8, 16, 16, 16]
    out: list[tuple[float, float]] = []
    layer = 0
    while layer < len(strides):
        # Layers with the same stride share a grid: 2 anchors per layer each
        # (aspect ratio 1 plus the interpolated scale).
        last = layer
        while last < len(strides) and strides[last] == strides[layer]:
            last += 1
        per_cell = 2 * (last - layer)
        grid = int(np.ceil(INPUT / strides[layer]))
        for y in range(grid):
            for x in range(grid):
                out.extend([((x + 0.5) / grid, (y + 0.5) / grid)] * per_cell)
        layer = last
    return np.asarray(out, dtype=np.float32)


@dataclass(frozen=True, slots=True)
class Detection:
    """A face box and six keypoints in image pixels (eyes, nose, mouth, ears)."""

    score: float
    box: tuple[float, float, float, float]  # x0, y0, x1, y1
    keypoints: np.ndarray  # (6, 2)


class FaceDetector:
    def __init__(self, interpreter: Any, threshold: float = 0.5) -> None:
        self._it = interpreter
        self.threshold = threshold
        self._anchors = ssd_anchors()
        inp = interpreter.get_input_details()[0]
        self._in_index = inp["index"]
        outs = {d["name"]: d["index"] for d in interpreter.get_output_details()}
        self._reg_index = outs.get("regressors", interpreter.get_output_details()[0]["index"])
        self._cls_index = outs.get("classificators", interpreter.get_output_details()[1]["index"])
        self._buf = np.empty((INPUT, INPUT, 3), dtype=np.uint8)

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in an RGB image, best first."""
        h, w = image.shape[:2]
        # Letterbox: scale the long side to 128, centre, pad with black.
        scale = INPUT / max(w, h)
        nw, nh = int(round(w * scale)), int(round(h * scale))
        px, py = (INPUT - nw) // 2, (INPUT - nh) // 2
        self._buf[:] = 0
        cv2.resize(image, (nw, nh), dst=self._buf[py : py + nh, px : px + nw], interpolation=cv2.INTER_AREA)
        tensor = self._it.tensor(self._in_index)
        np.multiply(self._buf, np.float32(2.0 / 255.0), out=tensor()[0], dtype=np.float32)
        tensor()[0] -= 1.0
        del tensor
        self._it.invoke()
        raw = self._it.get_tensor(self._reg_index)[0]
        logits = self._it.get_tensor(self._cls_index)[0, :, 0]
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits.astype(np.float64), -SCORE_CLIP, SCORE_CLIP)))
        keep = np.nonzero(scores >= self.threshold)[0]
        if keep.size == 0:
            return []
        a = self._anchors[keep]
        r = raw[keep] / INPUT
        cx, cy = r[:, 0] + a[:, 0], r[:, 1] + a[:, 1]
        bw, bh = r[:, 2], r[:, 3]
        boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
        kps = r[:, 4:16].reshape(-1, 6, 2) + a[:, None, :]
        merged = weighted_nms(boxes, kps, scores[keep])
        # Undo the letterbox: normalised letterbox coords -> image pixels.
        out = []
        for score, box, kp in merged:
            bx = (box * INPUT - [px, py, px, py]) / scale
            kx = (kp * INPUT - [px, py]) / scale
            out.append(Detection(float(score), tuple(float(v) for v in bx), kx.astype(np.float32)))
        return out


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def weighted_nms(
    boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray
) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """MediaPipe's WEIGHTED non-max suppression: overlapping boxes are score-averaged."""
    order = np.argsort(-scores)
    boxes, keypoints, scores = boxes[order], keypoints[order], scores[order]
    remaining = np.arange(len(scores))
    out = []
    while remaining.size:
        top = remaining[0]
        ious = _iou(boxes[top], boxes[remaining])
        group = remaining[ious > MIN_SUPPRESSION_IOU]
        w = scores[group][:, None]
        box = (boxes[group] * w).sum(0) / w.sum()
        kp = (keypoints[group] * w[:, :, None]).sum(0) / w.sum()
        out.append((float(scores[top]), box, kp))
        remaining = remaining[ious <= MIN_SUPPRESSION_IOU]
    return out
