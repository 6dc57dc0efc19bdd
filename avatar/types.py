"""Data passed between tracking, shape fitting, pose solving and the stages that consume a posed body
(garments, render, sizing). Arrays are numpy float32 unless stated; lengths in metres inside meshes and in
centimetres in `Measurements`.

Frames:
- *body frame*: the anny rest mesh rotated to y up, the person facing +z (towards a camera looking down -z),
  the person's left side on +x, metres, origin at anny's root bone (pelvis). `BodyShape.rest_vertices` is here.
- *camera frame*: OpenGL convention, camera at the origin looking down -z, y up, x right. `PosedBody.vertices`
  is here, placed so that projecting it with `PosedBody.camera` lines up with the input image.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# MediaPipe BlazePose 33 landmark names, in index order.
LANDMARK_NAMES: tuple[str, ...] = (
    "nose",
    "left_eye_inner",
    "left_eye",
    "left_eye_outer",
    "right_eye_inner",
    "right_eye",
    "right_eye_outer",
    "left_ear",
    "right_ear",
    "mouth_left",
    "mouth_right",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_pinky",
    "right_pinky",
    "left_index",
    "right_index",
    "left_thumb",
    "right_thumb",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
    "left_heel",
    "right_heel",
    "left_foot_index",
    "right_foot_index",
)
LM = {n: i for i, n in enumerate(LANDMARK_NAMES)}

MEASUREMENT_KEYS: tuple[str, ...] = (
    "height_cm",
    "chest_cm",
    "waist_cm",
    "hips_cm",
    "inseam_cm",
    "shoulder_width_cm",
    "arm_length_cm",
)


@dataclass
class Tracking:
    """One frame's tracking result. When `present` is False the arrays are zeros and must not be used."""

    present: bool
    confidence: float  # 0..1: mean visibility of the torso landmarks (shoulders, hips), 0 when absent
    landmarks_px: np.ndarray  # (33, 2) float32 pixel coordinates (x right, y down) in the input image
    landmarks_world: np.ndarray  # (33, 3) float32 metres, MediaPipe world frame (hip-centred, x right, y down)
    visibility: np.ndarray  # (33,) float32 0..1
    mask: np.ndarray | None  # (H, W) float32 0..1 person segmentation, or None
    image_size: tuple[int, int]  # (width, height) in pixels
    lower_body_visible: bool = True  # False for an upper-body-only view (desk, close-up): legs are guesses
    timestamp_ms: float = 0.0
    people_in_view: int = 1  # people the tracker saw (it follows one: the largest, most central; see tracking.py)

    @staticmethod
    def absent(image_size: tuple[int, int], timestamp_ms: float = 0.0) -> Tracking:
        return Tracking(
            present=False,
            confidence=0.0,
            landmarks_px=np.zeros((33, 2), np.float32),
            landmarks_world=np.zeros((33, 3), np.float32),
            visibility=np.zeros(33, np.float32),
            mask=None,
            image_size=image_size,
            lower_body_visible=False,
            timestamp_ms=timestamp_ms,
            people_in_view=0,
        )

    def to_json(self) -> dict:
        return {
            "present": self.present,
            "confidence": round(float(self.confidence), 3),
            "lower_body_visible": self.lower_body_visible,
            "people_in_view": self.people_in_view,
            "image_size": list(self.image_size),
            "landmarks": [
                {
                    "name": n,
                    "x_px": round(float(self.landmarks_px[i, 0]), 1),
                    "y_px": round(float(self.landmarks_px[i, 1]), 1),
                    "world_m": [round(float(v), 4) for v in self.landmarks_world[i]],
                    "visibility": round(float(self.visibility[i]), 3),
                }
                for i, n in enumerate(LANDMARK_NAMES)
            ]
            if self.present
            else [],
        }


@dataclass
class Measurements:
    """Body measurements in cm (ANSUR II definitions: chest at nipple level, waist at the navel, hips at the
    buttocks' fullest point, inseam = crotch height). `uncertainty_cm` has one-sigma values per key."""

    height_cm: float
    chest_cm: float
    waist_cm: float
    hips_cm: float
    inseam_cm: float
    shoulder_width_cm: float
    arm_length_cm: float
    weight_kg: float | None = None
    uncertainty_cm: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, float]:
        """The seven measurement keys (cm), rounded to 0.1."""
        return {k: round(float(getattr(self, k)), 1) for k in MEASUREMENT_KEYS}

    def to_json(self) -> dict:
        d: dict = self.as_dict()
        d["weight_kg"] = None if self.weight_kg is None else round(float(self.weight_kg), 1)
        d["uncertainty_cm"] = {k: round(float(v), 1) for k, v in self.uncertainty_cm.items()}
        return d


PHENOTYPE_KEYS: tuple[str, ...] = ("gender", "age", "muscle", "weight", "height", "proportions")


@dataclass
class BodyShape:
    """A person's body shape: anny phenotype parameters (each in [0, 1]; anny convention: gender 0 = male, 1 = female) plus,
    when computed, the rest mesh in the body frame and its measurements."""

    phenotype: dict[str, float]  # gender 0 = male, 1 = female; age 2/3 = young adult, 1 = old (anny)
    rest_vertices: np.ndarray | None = None  # (N, 3) float32, body frame
    measurements: Measurements | None = None
    source: str = "default"  # "default", "measurements", "photo", "live"
    mesh_measurements: Measurements | None = None  # tape measurements of the mesh itself, when they differ

    def key(self) -> tuple[float, ...]:
        return tuple(round(float(self.phenotype.get(k, 0.5)), 5) for k in PHENOTYPE_KEYS)

    def to_json(self) -> dict:
        return {
            "phenotype": {k: round(float(self.phenotype.get(k, 0.5)), 4) for k in PHENOTYPE_KEYS},
            "source": self.source,
        }


@dataclass
class PinholeCamera:
    """Intrinsics of the (assumed) input camera, in pixels. Projection of a camera-frame point (x, y, z), z < 0:
    u = cx + fx * x / -z, v = cy - fy * y / -z."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    @staticmethod
    def from_fov(width: int, height: int, hfov_deg: float = 60.0) -> PinholeCamera:
        f = 0.5 * width / np.tan(np.radians(hfov_deg) / 2)
        return PinholeCamera(float(f), float(f), width / 2.0, height / 2.0, int(width), int(height))

    def project(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) camera-frame points -> (N, 2) pixel coordinates."""
        depth = -points[:, 2]
        depth = np.where(depth < 1e-6, 1e-6, depth)
        u = self.cx + self.fx * points[:, 0] / depth
        v = self.cy - self.fy * points[:, 1] / depth
        return np.stack([u, v], -1).astype(np.float32)

    def projection_matrix(self, near: float = 0.05, far: float = 100.0) -> np.ndarray:
        """OpenGL 4x4 projection matching these intrinsics (for render/)."""
        w, h = self.width, self.height
        p = np.zeros((4, 4), np.float32)
        p[0, 0] = 2 * self.fx / w
        p[1, 1] = 2 * self.fy / h
        p[0, 2] = 1 - 2 * self.cx / w
        p[1, 2] = 2 * self.cy / h - 1
        p[2, 2] = -(far + near) / (far - near)
        p[2, 3] = -2 * far * near / (far - near)
        p[3, 2] = -1
        return p


@dataclass
class PosedBody:
    """A posed body in the camera frame, ready to render or to skin garments onto.

    Skinning a garment authored on the rest body (body frame, `BodyShape.rest_vertices`):
        v_cam = sum_k weights[i, k] * (bone_transforms[bone_indices[i, k]] @ [v_rest, 1])[:3]
    `bone_transforms` maps body-frame rest points to camera-frame posed points (global placement included)."""

    vertices: np.ndarray  # (N, 3) float32, camera frame, metres
    faces: np.ndarray  # (F, 3) int32
    joints: np.ndarray  # (J, 3) float32 bone heads, camera frame
    bone_transforms: np.ndarray  # (J, 4, 4) float32 rest(body frame) -> posed(camera frame)
    bone_names: tuple[str, ...]
    camera: PinholeCamera | None = None
    landmarks_cam: np.ndarray | None = None  # (33, 3) the model's own MediaPipe-style landmarks, camera frame
    shape: BodyShape | None = None
    timestamp_ms: float = 0.0
