"""Meshes and scenes: plain numpy containers handed to the renderer every frame.

Vertices are re-uploaded on every render (poses change each frame); colours, UVs, textures and overlays only when
the caller hands a new array object with different content (in-place edits of the same object are not detected)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fitmirror.errors import InputError

RGB = tuple[float, float, float]

NEUTRAL_BACKGROUND: RGB = (0.93, 0.93, 0.94)


@dataclass
class Mesh:
    """One triangle mesh in world space (metres, y up, the subject faces +z).

    - `colors`: per-vertex RGB in 0..1 (product colour); `base_color` is used when it is None.
    - `uvs` + `texture`: per-vertex UVs (0..1, v up) and an HxWx3 uint8 texture (patterns); multiplied with the colour.
      Meshes with per-corner UVs must be split so that every vertex has one UV.
    - `overlay` + `overlay_alpha`: per-vertex RGB blended over the shaded colour (fit map; see `fit_map_colors`).
    - `visible=False`: depth-only occluder (the avatar body in AR mode hides garment back parts, arms in front).
    - `double_sided=False`: back-face culling, for closed meshes with counter-clockwise outward faces (anny's body):
      about 30 % less CPU per frame on llvmpipe for body + garments. Garments stay double-sided (open necklines).
    """

    name: str
    vertices: np.ndarray
    faces: np.ndarray
    colors: np.ndarray | None = None
    uvs: np.ndarray | None = None
    texture: np.ndarray | None = None
    overlay: np.ndarray | None = None
    overlay_alpha: float = 0.65
    base_color: RGB = (0.8, 0.8, 0.8)
    visible: bool = True
    shininess: float = 0.15  # 0 = matte cloth, 1 = glossy
    double_sided: bool = True  # False for closed meshes wound counter-clockwise outwards (the body): skips back faces

    def validate(self) -> None:
        v, f = self.vertices, self.faces
        if v.ndim != 2 or v.shape[1] != 3 or len(v) == 0:
            raise InputError(f"mesh {self.name!r}: vertices must be (N,3), got {v.shape}")
        if f.ndim != 2 or f.shape[1] != 3:
            raise InputError(f"mesh {self.name!r}: faces must be (F,3), got {f.shape}")
        n = len(v)
        for key in ("colors", "overlay"):
            a = getattr(self, key)
            if a is not None and a.shape != (n, 3):
                raise InputError(f"mesh {self.name!r}: {key} must be ({n},3), got {a.shape}")
        if self.uvs is not None and self.uvs.shape != (n, 2):
            raise InputError(f"mesh {self.name!r}: uvs must be ({n},2), got {self.uvs.shape}")
        if (self.uvs is None) != (self.texture is None):
            raise InputError(f"mesh {self.name!r}: uvs and texture go together")
        if self.texture is not None and (
            self.texture.ndim != 3 or self.texture.shape[2] != 3 or self.texture.dtype != np.uint8
        ):
            raise InputError(f"mesh {self.name!r}: texture must be HxWx3 uint8")


@dataclass
class Scene:
    """What to draw. `background=None` renders a transparent background (RGBA output).

    Order `meshes` from the inside out: body first, then garments, the outermost last (a jacket after the shirt).
    The renderer draws them in reverse so that the early depth test skips the hidden inner layers (faster on
    CPU rasterisers); any order gives the same picture."""

    meshes: list[Mesh] = field(default_factory=list)
    background: RGB | None = NEUTRAL_BACKGROUND

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Axis-aligned bounds (min, max) of all meshes, visible or not (used to frame the camera rig)."""
        if not self.meshes:
            raise InputError("scene has no meshes")
        # reduce (3, N) rows: numpy's axis-0 reduction of an (N, 3) array is ~20x slower (a 3-wide inner loop)
        vt = [np.ascontiguousarray(np.asarray(m.vertices).T) for m in self.meshes]
        lo = np.min([v.min(1) for v in vt], axis=0)
        hi = np.max([v.max(1) for v in vt], axis=0)
        return lo.astype(np.float32), hi.astype(np.float32)


def fit_map_colors(ease: np.ndarray, tight_at: float = -1.0, loose_at: float = 1.0) -> np.ndarray:
    """Fit-map colours for per-vertex ease values: red (tight, <= tight_at) .. green (0) .. blue (loose, >= loose_at).

    `ease` is whatever signed quantity the caller uses (e.g. ease_cm: garment minus body circumference); returns
    (N,3) float32 for `Mesh.overlay`."""
    if not tight_at < 0 < loose_at:
        raise InputError("fit_map_colors needs tight_at < 0 < loose_at")
    e = np.asarray(ease, np.float32)
    t = np.where(e < 0, -np.clip(e / tight_at, 0, 1), np.clip(e / loose_at, 0, 1))  # -1 tight .. +1 loose
    red = np.array([0.9, 0.1, 0.1], np.float32)
    green = np.array([0.15, 0.8, 0.2], np.float32)
    blue = np.array([0.1, 0.3, 0.95], np.float32)
    a = np.clip(-t, 0, 1)[:, None]
    b = np.clip(t, 0, 1)[:, None]
    return (green * (1 - a - b) + red * a + blue * b).astype(np.float32)


def cylinder_mesh(
    name: str = "torso",
    radius_m: float = 0.16,
    height_m: float = 0.6,
    center: tuple[float, float, float] = (0.0, 1.2, 0.0),
    segments: int = 48,
    rings: int = 24,
    color: RGB | None = None,
    caps: bool = True,
    texture: np.ndarray | None = None,
) -> Mesh:
    """A closed cylinder along y: the stand-in torso/shirt of tests and demos (UVs wrap around)."""
    ang = np.linspace(0, 2 * np.pi, segments + 1, dtype=np.float32)  # seam vertex duplicated for UVs
    ys = np.linspace(-height_m / 2, height_m / 2, rings + 1, dtype=np.float32)
    a, y = np.meshgrid(ang, ys)
    verts = np.stack([radius_m * np.sin(a), y, radius_m * np.cos(a)], -1).reshape(-1, 3)
    uvs = np.stack([a / (2 * np.pi), (y + height_m / 2) / height_m], -1).reshape(-1, 2)
    idx = np.arange((rings + 1) * (segments + 1)).reshape(rings + 1, segments + 1)
    q0, q1, q2, q3 = idx[:-1, :-1], idx[:-1, 1:], idx[1:, 1:], idx[1:, :-1]
    faces = np.concatenate([np.stack([q0, q1, q2], -1).reshape(-1, 3), np.stack([q0, q2, q3], -1).reshape(-1, 3)])
    if caps:
        base = len(verts)
        verts = np.concatenate([verts, [[0, -height_m / 2, 0], [0, height_m / 2, 0]]])
        uvs = np.concatenate([uvs, [[0.5, 0.0], [0.5, 1.0]]])
        bottom = np.stack([np.full(segments, base), idx[0, 1:], idx[0, :-1]], -1)
        top = np.stack([np.full(segments, base + 1), idx[-1, :-1], idx[-1, 1:]], -1)
        faces = np.concatenate([faces, bottom, top])
    verts = (verts + np.asarray(center, np.float32)).astype(np.float32)
    colors = None if color is None else np.tile(np.asarray(color, np.float32), (len(verts), 1))
    return Mesh(
        name,
        verts,
        faces.astype(np.int32),
        colors=colors,
        uvs=uvs.astype(np.float32) if texture is not None else None,
        texture=texture,
    )
