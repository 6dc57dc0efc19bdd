"""The frame contract every stage speaks: what comes in, what the session wants, and the typed stream of results.

One frame flows through a pipeline of Stages (`Stage.process(ctx)`), each reading the fields earlier stages filled
and filling its own, like MediaPipe's named streams:

    frame in -> tracking (avatar) -> posed (avatar) -> garments, fit, stage_error (avatar) -> occluder_mask (avatar)
             -> views / eyes / mirror (render) -> outputs (render.layout.compose) -> frame out

This module sits at the ground floor: it imports nothing of the stages. The results of the avatar stages are
therefore described by the few attributes the later stages read (Protocols), not by their classes.
Images are HxWx3 uint8 RGB numpy arrays; masks are HxW float32 in 0..1; vertices (N,3) float32 metres.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:  # the render process reads frames without importing the catalogue (pydantic)
    from fitmirror.catalog import CatalogIndex

__all__ = [
    "FitReport",
    "FrameContext",
    "FrameIn",
    "Image",
    "PipelineResult",
    "Posed",
    "RenderState",
    "Stage",
    "Tracked",
]

Image = np.ndarray  # HxWx3 uint8 RGB


@dataclass(frozen=True)
class FrameIn:
    image: Image
    seq: int
    t_recv: float  # time.monotonic() when the frame was taken off the WebRTC track


@dataclass(frozen=True)
class RenderState:
    """Immutable snapshot of what a session wants rendered, taken when the frame is scheduled."""

    views: tuple[str, ...]
    layout: str
    view_size: tuple[int, int]  # (width, height) of one view
    view: str = "front"  # the selected view (single-view clients, kiosk)
    outfit: tuple[dict[str, Any], ...] = ()  # items as the session state holds them (category, color, product_id)
    size: str | None = None
    fit_map: bool = False
    stamp: bool = False
    measurements: tuple[tuple[str, float], ...] = ()
    catalog: CatalogIndex | None = None  # the catalogue the outfit's items are looked up in


class Tracked(Protocol):
    """What later stages read of a tracking result (`avatar.tracking.Tracking`)."""

    @property
    def present(self) -> bool: ...
    @property
    def mask(self) -> np.ndarray | None: ...  # (H,W) float32 person mask, or None when not segmented
    @property
    def landmarks_px(self) -> np.ndarray: ...  # (33,2) pixels, MediaPipe pose order
    @property
    def visibility(self) -> np.ndarray: ...  # (33,)


class Posed(Protocol):
    """What later stages read of a posed body (`avatar.types.PosedBody`)."""

    @property
    def vertices(self) -> np.ndarray: ...  # (N,3) float32, the webcam's camera frame
    @property
    def faces(self) -> np.ndarray: ...  # (F,3) int32
    @property
    def camera(self) -> Any: ...  # avatar.types.PinholeCamera of the webcam


@dataclass(frozen=True)
class FitReport:
    """How the first garment of the outfit fits (sent to the client in the state message)."""

    status: str
    size: str
    overall: str  # one sentence, English
    details: dict[str, str]  # region -> "tight" | "ok" | "loose" ...


@dataclass
class FrameContext:
    """One frame's typed stream. Each field is written by one stage and read by the later ones."""

    frame: FrameIn
    state: RenderState
    tracking: Tracked | None = None  # tracking stage
    person_present: bool | None = None  # tracking stage
    posed: Posed | None = None  # pose stage (the last posed body while the person is briefly lost)
    garments: list[Any] = field(default_factory=list)  # garment stage: render.scene.Mesh, innermost first
    fit: FitReport | None = None  # garment stage
    stage_error: str | None = None  # a stage's persistent problem the user should hear about
    occluder_mask: np.ndarray | None = None  # occluder stage: (H,W) float32, what stays in front of garments (hair)
    views: dict[str, Image] = field(default_factory=dict)  # view name -> rendered image (view_size)
    eyes: tuple[Image, Image] | None = None  # stereo (left, right), each view_size
    mirror: Image | None = None  # AR composite for the mirror layout (view_size)
    outputs: list[Image] | None = None  # final track images; a stage may set them directly (echo)


class Stage(Protocol):
    name: str

    def process(self, ctx: FrameContext) -> None: ...

    def close(self) -> None: ...


@dataclass
class PipelineResult:
    outputs: list[Image]
    timings_ms: dict[str, float]
    person_present: bool | None
    fit: FitReport | None = None
    error: str | None = None  # FrameContext.stage_error
