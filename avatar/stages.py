"""The avatar stages of the live pipeline: MediaPipe tracking -> pose solve on an anny body -> garments of the
session's outfit (cut to the chosen size, draped, posed with the body) -> occluders (hair over a collar, mirror).

They run on the session's worker thread, the front of `server.pipeline.OverlappedPipeline` (the render stage of
frame N runs on its own thread or process while frame N+1 is tracked), and speak `fitmirror.frame.FrameContext`.
Dressing takes seconds on CPU, so it runs on the garment stage's own thread: a quick drape first (a few hundred
ms: the new garment shows almost at once), then the full drape. Pipelines are pooled between sessions: every stage
can `reset()`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from fitmirror.catalog import CatalogIndex, Product
from fitmirror.config import get_settings
from fitmirror.frame import FitReport, FrameContext, RenderState
from fitmirror.priority import lower_named_threads

if TYPE_CHECKING:
    from avatar.tracking import Tracking
    from avatar.types import PosedBody

__all__ = [
    "GarmentStage",
    "OccluderStage",
    "PoseStage",
    "TrackingStage",
    "back_stages",
    "default_size",
    "front_stages",
    "predrape_catalogue",
]

log = logging.getLogger("fitmirror.avatar.stages")


def _lower_mediapipe_threads() -> None:
    """MediaPipe runs its graphs on threads of its own (kernel name "mediapipe"), some started on the first frames:
    part of the front, so they get the front's lower priority (`settings.front_nice`, see OverlappedPipeline)."""
    lower_named_threads("mediapipe", get_settings().front_nice)


def _thread_count() -> int:
    try:
        return len(os.listdir("/proc/self/task"))  # ~30 us
    except OSError:
        return 0


class TrackingStage:
    """MediaPipe pose; the person-segmentation mask only for layouts that composite over the webcam (mirror),
    since it costs tracking time every frame and mosaic/stereo/tracks never read it. The segmenting tracker is
    built in the background on the first mirror frame (about 2 s); frames are tracked without a mask meanwhile."""

    name = "tracking"

    def __init__(self) -> None:
        from avatar.tracking import Tracker

        self.tracker = Tracker(video=True, segmentation=False)
        self._threads = 0  # the process's thread count when MediaPipe's threads were last looked for
        self.seg_tracker: Any = None
        self._seg_build: threading.Thread | None = None

    def _build_seg(self) -> None:
        from avatar.tracking import Tracker

        try:
            self.seg_tracker = Tracker(video=True, segmentation=True)
        except Exception as e:  # the mirror keeps working without a mask
            log.warning("segmenting tracker: %s", e)

    def process(self, ctx: FrameContext) -> None:
        tracker = self.tracker
        if ctx.state.layout == "mirror":
            if self.seg_tracker is not None:
                tracker = self.seg_tracker
            elif self._seg_build is None:
                self._seg_build = threading.Thread(target=self._build_seg, name="fm-seg-build")
                self._seg_build.start()
        tracking = tracker.track(ctx.frame.image, ctx.frame.t_recv * 1000.0)
        threads = _thread_count()
        if threads != self._threads:  # the first frame, or MediaPipe started threads (its graphs, the mirror's tracker)
            self._threads = threads
            _lower_mediapipe_threads()
        ctx.tracking = tracking
        ctx.person_present = bool(tracking.present)

    def reset(self) -> None:
        """Nothing: MediaPipe's graph is kept for the next session (it re-detects when its tracked region holds
        nobody, and the pose solver's filters are reset). Rebuilding it (`Tracker.reset`) costs 0.6-2.5 s and
        holds the GIL for up to 0.4 s at a time, which stalls the server's event loop."""

    def close(self) -> None:
        if self._seg_build is not None:
            self._seg_build.join()
        self.tracker.close()
        if self.seg_tracker is not None:
            self.seg_tracker.close()


class PoseStage:
    """Keeps the last posed body while the person is briefly lost, so views do not flicker."""

    name = "pose"

    def __init__(self) -> None:
        from avatar.pose import PoseSolver
        from avatar.types import PHENOTYPE_KEYS, BodyShape

        self.default_shape = BodyShape(phenotype=dict.fromkeys(PHENOTYPE_KEYS, 0.5))
        self.solver = PoseSolver(self.default_shape)
        self.last: PosedBody | None = None

    def process(self, ctx: FrameContext) -> None:
        tracking = cast("Tracking | None", ctx.tracking)  # what TrackingStage put there
        posed = self.solver.solve(tracking) if tracking is not None else None
        if posed is not None:
            self.last = posed
        ctx.posed = self.last

    def reset(self) -> None:
        self.last = None
        self.solver.reset()
        if self.solver.shape is not self.default_shape:
            self.solver.set_shape(self.default_shape)

    def close(self) -> None:
        pass


QUICK_DRAPE_SUBSTEPS = 2  # first pass of a new outfit: ~0.35 s instead of ~1.5-1.9 s (24), same cut and fit
FULL_DRAPE_SUBSTEPS = 24  # avatar.garments' default
DRESSED_CACHE = 4  # dressed outfits kept per pipeline (average body): switching back, or the next session's demo
# (product id, size, product JSON hash) -> the product alone, fully draped on the average body (predrape_catalogue)
PREDRAPED: dict[tuple[str, str, int], Any] = {}
_predraped_lock = threading.Lock()


def _product_key(product: Product, size: str) -> tuple[str, str, int]:
    """A catalogue edit (new size chart, new cut) changes the hash, so a stale drape is never shown."""
    return (product.id, size, hash(product.model_dump_json()))


def default_size(product: Product, size: str | None = None) -> str:
    """The size an outfit item is cut in: the asked one when the chart has it, else M, else the chart's first."""
    if size and size in product.size_chart:
        return size
    return "M" if "M" in product.size_chart else next(iter(product.size_chart))


def _fresh(outfit: Any) -> Any:
    """A shared drape for one more pipeline: its own per-frame poser and hem-swing state."""
    return dataclasses.replace(outfit, _poser=None, _swing=None, _posed_collider=None)


def predrape_catalogue(stage: GarmentStage, products: Iterable[Product]) -> dict[str, float]:
    """Drape each product alone, in its default size, on `stage`'s average body (full substeps) into PREDRAPED,
    shared by every avatar pipeline of this process, and make the fabric tiles of its colours. Blocking; start-up
    preload. Returns counts and seconds. A product that fails to drape is logged and skipped (its command then
    drapes as usual)."""
    from fitmirror.demo_catalog import product_texture

    t0 = time.monotonic()
    products = list(products)
    done = failed = 0
    for i, product in enumerate(products):
        size = default_size(product)
        key = _product_key(product, size)
        with _predraped_lock:
            if key in PREDRAPED:
                continue
        try:
            outfit = stage._default_dresser.dress([(product, size, None)], drape_substeps=FULL_DRAPE_SUBSTEPS)
        except Exception as e:
            failed += 1
            log.warning("pre-drape of %s failed: %s", product.id, e)
            continue
        with _predraped_lock:
            PREDRAPED[key] = outfit  # never posed here: each use takes a _fresh() copy
        for variant in product.colors:  # a colour asked for later re-textures this drape: its tile is ready
            product_texture(product, variant.name)
        done += 1
        if (i + 1) % 5 == 0 or i + 1 == len(products):
            log.info("pre-draped %d/%d catalogue products (%.1f s)", i + 1, len(products), time.monotonic() - t0)
    return {"draped": done, "failed": failed, "seconds": round(time.monotonic() - t0, 1)}


class GarmentStage:
    """Outfit (state.outfit + state.size) -> catalogue products -> a DressedOutfit, re-dressed only when the
    outfit changes; per frame the garments follow the posed body (ctx.garments) and the fit summary of
    the first garment goes to ctx.fit. Products come from the frame's catalogue (`RenderState.catalog`).

    A new outfit is dressed twice in the background: a quick drape (shown as soon as it is ready, so a command
    is visible in well under a second) and then the full one. Fully dressed outfits on the average body are
    cached, so switching back, or a pooled pipeline's next session in the demo outfit, needs no drape at all."""

    name = "garments"

    def __init__(self, pose: PoseStage) -> None:
        from avatar.garments import Dresser

        self.pose = pose
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fm-dress")
        self.key: tuple | None = None
        self.job: Future | None = None
        self._job_quick = False
        self.outfit: Any = None
        self.error: str | None = None
        self._last_t: float | None = None  # receive time of the last posed frame (hem swing)
        self._cache: OrderedDict[tuple, Any] = OrderedDict()
        self._shown: tuple[tuple | None, bool] = (None, False)  # the outfit on show: its key, whether quick
        self._job_key: tuple | None = None
        # owned by the background thread: the body shape from measurements and its Dresser
        self._bg_shape_key: tuple = ()
        self._bg_shape: Any = None
        self._default_dresser = Dresser(pose.solver.rest.vertices, pose.solver.body.faces)
        self._bg_dresser = self._default_dresser

    @staticmethod
    def _products(
        catalog: CatalogIndex | None, outfit: tuple[dict[str, Any], ...], size: str | None
    ) -> list[tuple[Product, str, str | None]]:
        if outfit and catalog is None:
            raise RuntimeError("the frame's state has an outfit but no catalogue to find its products in")
        items = []
        for it in outfit:
            product = catalog.product_for(it, strict=True)  # type: ignore[union-attr]
            if product is None:
                continue
            colors = [c.name for c in product.colors]
            color = it.get("color") if it.get("color") in colors else None
            items.append((product, default_size(product, size), color))
        return items

    def _job(self, s: RenderState, substeps: int) -> tuple[Any, Any, bool]:
        """Background: (body shape if the measurements changed it, else None; dressed outfit or None; whether it
        was dressed on the average body)."""
        from avatar.garments import Dresser

        new_shape = None
        measurements = s.measurements
        m = dict(measurements)
        if measurements != self._bg_shape_key and "height_cm" in m:
            from avatar.shape import shape_from_measurements

            keys = ("weight_kg", "chest_cm", "waist_cm", "hips_cm", "inseam_cm")
            given: dict[str, Any] = {k: m[k] for k in keys if k in m}
            shape = shape_from_measurements(m["height_cm"], **given, body=self.pose.solver.body)
            rest = self.pose.solver.body.rest(shape)
            self._bg_dresser = Dresser(rest.vertices, self.pose.solver.body.faces)
            self._bg_shape, new_shape = shape, shape
        self._bg_shape_key = measurements
        items = self._products(s.catalog, s.outfit, s.size) if s.outfit else []
        dressed = self._bg_dresser.dress(items, drape_substeps=substeps) if items else None
        return new_shape, dressed, self._bg_dresser is self._default_dresser

    def _submit(self, s: RenderState, substeps: int) -> None:
        if self.job is not None:
            self.job.cancel()  # a queued drape of an older outfit is never needed (a running one finishes)
        self.job = self.pool.submit(self._job, s, substeps)
        self._job_quick = substeps < FULL_DRAPE_SUBSTEPS
        self._job_key = self.key

    def _show(self, outfit: Any, key: tuple | None = None, quick: bool = False) -> None:
        self.outfit = outfit
        self.error = None
        self._last_t = None  # a new outfit starts at rest
        self._shown = (key, quick)

    def _remember(self, key: tuple, outfit: Any) -> None:
        """Keep a dressed outfit on the average body (at most DRESSED_CACHE, least recently used out first)."""
        self._cache[key] = outfit
        while len(self._cache) > DRESSED_CACHE:
            self._cache.popitem(last=False)

    def _drop_job(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.job = None

    @staticmethod
    def _fabrics(items: list[tuple[Product, str, str | None]]) -> dict[str, tuple[str, np.ndarray]]:
        """product id -> (colour name, fabric tile) for DressedOutfit.recolored."""
        from fitmirror.demo_catalog import product_texture

        out: dict[str, tuple[str, np.ndarray]] = {}
        for product, _size, color in items:
            name = product.color(color).name
            out[product.id] = (name, product_texture(product, name))
        return out

    def _from_predraped(self, s: RenderState, key: tuple, items: list[tuple[Product, str, str | None]]) -> bool:
        """One catalogue item in its default size on the average body: shown from PREDRAPED (re-textured to the
        asked colour) with the next frame. False when not pre-draped (the caller drapes)."""
        if s.measurements or len(s.outfit) != 1 or len(items) != 1 or not PREDRAPED:
            return False
        product, size, color = items[0]
        with _predraped_lock:
            hit = PREDRAPED.get(_product_key(product, size))
        if hit is None:
            return False
        outfit = _fresh(hit)
        if outfit.meshes[0].color != product.color(color).name:
            outfit = outfit.recolored(self._fabrics(items))
        self._drop_job()
        self._show(outfit, key)
        self._remember(key, outfit)
        return True

    def _recolor(self, s: RenderState, key: tuple, items: list[tuple[Product, str, str | None]]) -> bool:
        """A colour-only change of the outfit on show ("in red", "换成红色"): the same drape with the new fabrics
        (~5 ms) instead of a re-drape (0.1-0.9 s). False when products, sizes or the body differ."""
        shown_key, shown_quick = self._shown
        if self.outfit is None or shown_key is None or shown_key[2] != s.measurements:
            return False
        have = sorted((m.product_id, m.size) for m in self.outfit.meshes)
        if sorted((p.id, size) for p, size, _ in items) != have:
            return False
        outfit = self.outfit.recolored(self._fabrics(items))
        self._drop_job()
        self._show(outfit, key, shown_quick)
        if shown_quick:  # the full drape is still to come: in the new colours
            self._submit(s, FULL_DRAPE_SUBSTEPS)
        elif not s.measurements:
            self._remember(key, outfit)
        return True

    def _without_drape(self, s: RenderState, key: tuple) -> bool:
        """A new outfit key that needs no drape: a colour change of the outfit on show, or a pre-draped product.
        The outfit's products are looked up once for both (a catalogue error is left to the drape path)."""
        if not s.outfit:
            return False
        try:
            items = self._products(s.catalog, s.outfit, s.size)
        except Exception:
            return False
        return self._recolor(s, key, items) or self._from_predraped(s, key, items)

    def process(self, ctx: FrameContext) -> None:
        s = ctx.state
        key = (tuple(tuple(sorted((k, str(v)) for k, v in it.items())) for it in s.outfit), s.size, s.measurements)
        if key != self.key:
            self.key = key
            cached = self._cache.get(key) if not s.measurements else None
            if cached is not None:
                self._cache.move_to_end(key)
                self._drop_job()
                self._show(cached, key)
            elif not self._without_drape(s, key):
                self._submit(s, QUICK_DRAPE_SUBSTEPS if s.outfit else FULL_DRAPE_SUBSTEPS)
        if self.job is not None and self.job.done() and not self.job.cancelled():
            quick = self._job_quick
            try:
                shape, outfit, default_body = self.job.result()
                self._show(outfit, self._job_key, quick)
                if shape is not None:  # the fitted body now has the shopper's measurements
                    self.pose.solver.set_shape(shape)
                    self._cache.clear()
                self.job = None
                if quick and outfit is not None:
                    self._submit(s, FULL_DRAPE_SUBSTEPS)
                elif outfit is not None and default_body and not s.measurements:
                    self._remember(key, outfit)
            except Exception as e:  # implausible measurements, a size the cutter cannot make: say so, keep going
                self.outfit = None
                self.error = getattr(e, "message", None) or f"{type(e).__name__}: {e}"
                self.job = None
                log.warning("dressing failed: %s", self.error)
        if self.error:
            ctx.stage_error = f"outfit: {self.error}"
        posed = ctx.posed
        if self.outfit is None or posed is None:
            return
        # dt_s drives the hems' secondary motion (skirts swing); the first frame of an outfit starts at rest.
        dt_s = ctx.frame.t_recv - self._last_t if self._last_t is not None else None
        self._last_t = ctx.frame.t_recv
        meshes = self.outfit.pose(posed.vertices, dt_s=dt_s)
        ctx.garments = [g.to_render_mesh(fit_map=s.fit_map) for g in meshes]
        if self.outfit.fits:
            f = self.outfit.fits[0]
            ctx.fit = FitReport("ok", f.size, f.text("en"), {r.region: r.status for r in f.regions})

    def _reset_bg(self) -> None:
        self._bg_shape_key, self._bg_shape, self._bg_dresser = (), None, self._default_dresser

    def reset(self) -> None:
        """A new session: no outfit yet, the average body (cached dressed outfits stay)."""
        if self.job is not None:
            self.job.cancel()
            try:
                self.job.result()
            except BaseException:  # cancelled, or a failed drape nobody will look at
                pass
        self.pool.submit(self._reset_bg).result()
        self.key = self.job = self.outfit = self.error = self._last_t = self._job_key = None
        self._job_quick = False
        self._shown = (None, False)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)  # a running drape finishes: no thread outlives the session


class OccluderStage:
    """What of the person stays in front of the garments in the AR mirror: hair falling over a collar or the
    shoulders (`avatar.hair`, ~2.3 ms of CPU a frame). Only for the mirror, with garments on, where the tracker
    segments the person. It runs on the back, just before the render (on the render's thread, or in the render
    process: `back_stages`), so it never delays the tracking of the next frame."""

    name = "occluders"

    def __init__(self, hair_occlusion: bool | None = None) -> None:
        self.hair_occlusion = get_settings().ar_hair_occlusion if hair_occlusion is None else hair_occlusion

    def process(self, ctx: FrameContext) -> None:
        tracking = ctx.tracking
        if not (self.hair_occlusion and ctx.state.layout == "mirror" and ctx.garments and ctx.posed is not None):
            return
        if tracking is None or not tracking.present or tracking.mask is None:
            return
        from avatar.hair import hair_mask

        ctx.occluder_mask = hair_mask(ctx.frame.image, tracking.landmarks_px, tracking.mask, tracking.visibility)

    def close(self) -> None:
        pass


def front_stages() -> list[Any]:
    """The front of the avatar pipeline, in order: tracking -> pose -> garments (the session's worker thread)."""
    os.environ.setdefault("ANNY_CACHE_DIR", str(get_settings().anny_cache_dir))
    pose = PoseStage()
    return [TrackingStage(), pose, GarmentStage(pose)]


def back_stages(egl_device: int | None = None) -> list[Any]:
    """The back, in order: occluders -> render (`render.process` builds these in the render process by name)."""
    from render.stage import RenderStage

    return [OccluderStage(), RenderStage(egl_device=egl_device)]
