"""TSN's warped flow (`warp_tvl1`, `warp_dis`): camera motion estimated as a homography and
removed before the base flow is computed (`WarpedFlow`)."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

# Warped flow: camera motion is accepted only when RANSAC keeps at least this many inliers.
MIN_HOMOGRAPHY_INLIERS = 20
RANSAC_REPROJ_THRESHOLD = 1.0  # pixels


class WarpedFlow:
    """TSN's warped flow: remove camera motion, then compute flow with the base algorithm.

    1. Correspondences between the two frames: SIFT matches (Lowe ratio 0.7; SURF, the
       original's choice, is non-free) plus points tracked by a fast DIS (ultrafast) flow on a
       grid of good features, as dense_flow merged SURF and flow matches.
    2. A homography H (first -> second frame) by RANSAC. With fewer than
       MIN_HOMOGRAPHY_INLIERS inliers (or no fit) the camera is taken as still (H = identity).
    3. The second frame is warped by H^-1 (back onto the first frame's view; borders replicate)
       and the base flow is computed between the first frame and the warped second frame.
    No person detector masks the humans (the original masks nothing either).
    """

    def __init__(self, base: Callable[[np.ndarray, np.ndarray], np.ndarray] | None) -> None:
        self.base = base
        self.sift = cv2.SIFT_create(nfeatures=500)
        self.matcher = cv2.BFMatcher(cv2.NORM_L2)
        self.tracker = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self.last_inliers = 0  # for tests and diagnostics

    def _feature_matches(self, prev: np.ndarray, nxt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        kp1, d1 = self.sift.detectAndCompute(prev, None)
        kp2, d2 = self.sift.detectAndCompute(nxt, None)
        if d1 is None or d2 is None or len(kp1) < 2 or len(kp2) < 2:
            return np.empty((0, 2), np.float32), np.empty((0, 2), np.float32)
        src, dst = [], []
        for pair in self.matcher.knnMatch(d1, d2, k=2):
            if len(pair) == 2 and pair[0].distance < 0.7 * pair[1].distance:
                src.append(kp1[pair[0].queryIdx].pt)
                dst.append(kp2[pair[0].trainIdx].pt)
        return np.float32(src).reshape(-1, 2), np.float32(dst).reshape(-1, 2)

    def _flow_matches(self, prev: np.ndarray, nxt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        corners = cv2.goodFeaturesToTrack(prev, maxCorners=400, qualityLevel=0.001, minDistance=3)
        if corners is None:
            return np.empty((0, 2), np.float32), np.empty((0, 2), np.float32)
        pts = corners.reshape(-1, 2)  # [K, 2] (x, y)
        flow = self.tracker.calc(prev, nxt, None)  # [H, W, 2]
        xi = np.clip(np.rint(pts[:, 0]).astype(int), 0, prev.shape[1] - 1)
        yi = np.clip(np.rint(pts[:, 1]).astype(int), 0, prev.shape[0] - 1)
        return pts.astype(np.float32), (pts + flow[yi, xi]).astype(np.float32)

    def estimate_homography(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray | None:
        """H mapping first-frame points to second-frame points, or None if rejected."""
        s1, d1 = self._feature_matches(prev, nxt)
        s2, d2 = self._flow_matches(prev, nxt)
        src, dst = np.concatenate([s1, s2]), np.concatenate([d1, d2])
        self.last_inliers = 0
        if len(src) < MIN_HOMOGRAPHY_INLIERS:
            return None
        h, mask = cv2.findHomography(src, dst, cv2.RANSAC, RANSAC_REPROJ_THRESHOLD)
        if h is None or mask is None:
            return None
        self.last_inliers = int(mask.sum())
        if self.last_inliers < MIN_HOMOGRAPHY_INLIERS or abs(np.linalg.det(h[:2, :2])) < 1e-3:
            return None
        return h

    def align(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        """The second frame with the camera motion removed (unchanged when H is rejected)."""
        h = self.estimate_homography(prev, nxt)
        if h is None:
            return nxt
        height, width = prev.shape
        # dst(x) = nxt(H x): the second frame seen from the first frame's camera.
        return cv2.warpPerspective(
            nxt,
            h,
            (width, height),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )

    def __call__(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        assert self.base is not None, "WarpedFlow(None) only aligns frames"
        return self.base(prev, self.align(prev, nxt))
