"""Cameras: a studio rig around the subject (named views) and a pinhole camera for AR in webcam space.

Convention (OpenGL): camera space looks down -z with y up and x right; world is metres, y up, the subject
faces +z, so the subject's left hand is at +x. Matrices are float32 4x4 acting on column vectors."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fitmirror.errors import InputError

# azimuth of the camera position around the subject, degrees from +z (front) towards +x (the subject's left)
VIEW_AZIMUTH_DEG: dict[str, float] = {
    "front": 0.0,
    "three_quarter": 45.0,  # front-left three-quarter
    "left": 90.0,
    "back": 180.0,
    "right": 270.0,
    "three_quarter_right": 315.0,
}
VIEW_LABELS: dict[str, str] = {
    "front": "FRONT",
    "three_quarter": "3/4",
    "left": "LEFT",
    "back": "BACK",
    "right": "RIGHT",
    "three_quarter_right": "3/4 R",
}


def look_at(eye: np.ndarray, target: np.ndarray, up: tuple[float, float, float] = (0.0, 1.0, 0.0)) -> np.ndarray:
    """World->camera matrix for a camera at `eye` looking at `target` (OpenGL: looks down -z).
    Plain float arithmetic: np.cross/np.linalg on 3-vectors cost ~0.1 ms each, called per view per frame."""
    ex, ey, ez = (float(a) for a in eye)
    tx, ty, tz = (float(a) for a in target)
    ux, uy, uz = (float(a) for a in up)
    fx, fy, fz = tx - ex, ty - ey, tz - ez
    n = math.sqrt(fx * fx + fy * fy + fz * fz)
    if n == 0.0:
        raise InputError("look_at: eye and target coincide")
    fx, fy, fz = fx / n, fy / n, fz / n
    rx, ry, rz = fy * uz - fz * uy, fz * ux - fx * uz, fx * uy - fy * ux  # f x up
    n = math.sqrt(rx * rx + ry * ry + rz * rz)
    if n < 1e-9:
        raise InputError("look_at: view direction is parallel to up")
    rx, ry, rz = rx / n, ry / n, rz / n
    vx, vy, vz = ry * fz - rz * fy, rz * fx - rx * fz, rx * fy - ry * fx  # r x f
    return np.array(
        [
            [rx, ry, rz, -(rx * ex + ry * ey + rz * ez)],
            [vx, vy, vz, -(vx * ex + vy * ey + vz * ez)],
            [-fx, -fy, -fz, fx * ex + fy * ey + fz * ez],
            [0.0, 0.0, 0.0, 1.0],
        ],
        np.float32,
    )


def perspective(fov_y_deg: float, aspect: float, near: float, far: float) -> np.ndarray:
    """OpenGL perspective projection (camera->clip)."""
    t = 1.0 / math.tan(math.radians(fov_y_deg) / 2)
    m = np.zeros((4, 4), np.float32)
    m[0, 0], m[1, 1] = t / aspect, t
    m[2, 2], m[2, 3] = -(far + near) / (far - near), -2 * far * near / (far - near)
    m[3, 2] = -1.0
    return m


@dataclass(frozen=True)
class Camera:
    """A view and a projection; `width`/`height` are the viewport in pixels (the aspect the projection assumes)."""

    view: np.ndarray  # 4x4 world->camera
    proj: np.ndarray  # 4x4 camera->clip
    width: int
    height: int
    name: str = ""

    @property
    def mvp(self) -> np.ndarray:
        return (self.proj @ self.view).astype(np.float32)

    @property
    def position(self) -> np.ndarray:
        r, t = self.view[:3, :3], self.view[:3, 3]
        return (-r.T @ t).astype(np.float32)

    def project_px(self, points: np.ndarray) -> np.ndarray:
        """World points (N,3) -> pixel coordinates (N,2), x right, y down, pixel centres at integer+0.5
        (so `int(px)` is the column/row index)."""
        p = np.c_[np.asarray(points, np.float64), np.ones(len(points))] @ self.mvp.T.astype(np.float64)
        ndc = p[:, :3] / p[:, 3:4]
        return np.stack([(ndc[:, 0] + 1) / 2 * self.width, (1 - ndc[:, 1]) / 2 * self.height], -1).astype(np.float32)


@dataclass
class CameraRig:
    """Studio cameras around a standing subject. `center` is the look-at point (about mid-height of the body);
    the distance is chosen so that `height_m` (plus a margin) fills the view vertically."""

    center: tuple[float, float, float] = (0.0, 0.9, 0.0)
    height_m: float = 1.8
    fov_y_deg: float = 30.0
    margin: float = 1.12
    near: float = 0.05
    far: float = 50.0

    @classmethod
    def framing(cls, lo: np.ndarray, hi: np.ndarray, **kw) -> CameraRig:
        """A rig that frames the axis-aligned box (lo, hi), e.g. `Scene.bounds()`."""
        lo, hi = np.asarray(lo, np.float32), np.asarray(hi, np.float32)
        c = (lo + hi) / 2
        size = max(float(hi[1] - lo[1]), float(hi[0] - lo[0]), float(hi[2] - lo[2]), 0.1)
        return cls(center=(float(c[0]), float(c[1]), float(c[2])), height_m=size, **kw)

    @property
    def distance_m(self) -> float:
        return self.height_m * self.margin / 2 / math.tan(math.radians(self.fov_y_deg) / 2)

    def camera(self, view: str, width: int, height: int | None = None, eye_offset_m: float = 0.0) -> Camera:
        """Camera for a named view (`VIEW_AZIMUTH_DEG`); `eye_offset_m` shifts it along its right axis (stereo)."""
        if view not in VIEW_AZIMUTH_DEG:
            raise InputError(f"unknown view {view!r}", hint=f"one of {', '.join(VIEW_AZIMUTH_DEG)}")
        height = height or width
        az = math.radians(VIEW_AZIMUTH_DEG[view])
        c = np.asarray(self.center, np.float64)
        fwd_dir = np.array([math.sin(az), 0.0, math.cos(az)])  # from center to camera
        right = np.array([math.cos(az), 0.0, -math.sin(az)])  # camera's right axis
        eye = c + fwd_dir * self.distance_m + right * eye_offset_m
        target = c + right * eye_offset_m  # parallel stereo: both eyes look straight ahead
        return Camera(
            look_at(eye, target), perspective(self.fov_y_deg, width / height, self.near, self.far), width, height, view
        )

    def stereo(self, width: int, height: int | None = None, ipd_m: float = 0.063, view: str = "front"):
        """(left eye, right eye) cameras, parallel axes, separated by the interpupillary distance."""
        return (
            self.camera(view, width, height, -ipd_m / 2),
            self.camera(view, width, height, +ipd_m / 2),
        )


@dataclass(frozen=True)
class PinholeCamera:
    """Webcam intrinsics in pixels, continuous coordinates: x right, y down, pixel i covers [i, i+1) (as MediaPipe
    landmarks times the image size; OpenCV calibrations use integer pixel centres: add 0.5 to their cx, cy).

    The AR world is the webcam's camera frame in OpenGL convention (x right, y up, looking down -z): a point
    (X, Y, Z) in OpenCV camera coordinates (z forward, y down) is (X, -Y, -Z) there (see `cv_to_gl_points`), so an
    avatar fitted in camera space is drawn where the person is. Same convention as `avatar.types.PinholeCamera`:
    u = cx + fx * x / -z, v = cy - fy * y / -z for an OpenGL camera-frame point (x, y, z)."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    near: float = 0.05
    far: float = 20.0

    @classmethod
    def from_fov(cls, width: int, height: int, fov_x_deg: float = 60.0) -> PinholeCamera:
        """A typical webcam when intrinsics are unknown (about 60 degrees horizontal FOV)."""
        f = width / 2 / math.tan(math.radians(fov_x_deg) / 2)
        return cls(f, f, width / 2, height / 2, width, height)

    @classmethod
    def like(cls, cam) -> PinholeCamera:
        """From any object with fx, fy, cx, cy, width, height (e.g. `avatar.types.PinholeCamera`)."""
        if isinstance(cam, cls):
            return cam
        return cls(float(cam.fx), float(cam.fy), float(cam.cx), float(cam.cy), int(cam.width), int(cam.height))

    @property
    def K(self) -> np.ndarray:
        return np.array([[self.fx, 0, self.cx], [0, self.fy, self.cy], [0, 0, 1]], np.float32)

    def projection(self) -> np.ndarray:
        """OpenGL projection that lands pixel coordinate (u, v) on image column u, row v (from the top)."""
        w, h, n, f = self.width, self.height, self.near, self.far
        cx, cy = self.cx, self.cy
        m = np.zeros((4, 4), np.float32)
        m[0, 0], m[0, 2] = 2 * self.fx / w, 1 - 2 * cx / w
        m[1, 1], m[1, 2] = 2 * self.fy / h, 2 * cy / h - 1
        m[2, 2], m[2, 3] = -(f + n) / (f - n), -2 * f * n / (f - n)
        m[3, 2] = -1.0
        return m

    def camera(self) -> Camera:
        return Camera(np.eye(4, dtype=np.float32), self.projection(), self.width, self.height, "webcam")

    def project_cv(self, points_cv: np.ndarray) -> np.ndarray:
        """OpenCV camera-space points (N,3), z forward -> pixel coordinates (N,2)."""
        p = np.asarray(points_cv, np.float64)
        return np.stack([self.fx * p[:, 0] / p[:, 2] + self.cx, self.fy * p[:, 1] / p[:, 2] + self.cy], -1)


_CV_TO_GL = np.diag([1.0, -1.0, -1.0]).astype(np.float32)


def cv_to_gl_points(points_cv: np.ndarray) -> np.ndarray:
    """OpenCV camera coordinates (x right, y down, z forward) -> OpenGL camera/world (x right, y up, z back)."""
    return (np.asarray(points_cv, np.float32) @ _CV_TO_GL).astype(np.float32)


def gl_to_cv_points(points_gl: np.ndarray) -> np.ndarray:
    return cv_to_gl_points(points_gl)
