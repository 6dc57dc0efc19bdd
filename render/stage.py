"""The stages that produce a frame's views: the render of the posed body and its garments (`RenderStage`, the
back of the avatar pipeline), and two stand-ins without a body (`PreviewStage`: the webcam frame as labelled
views; `EchoStage`: the frame unchanged, a benchmark baseline). They speak `fitmirror.frame.FrameContext`."""

from __future__ import annotations

import cv2
import numpy as np

from fitmirror.frame import FrameContext, RenderState
from render.layout import blank, fit_image, label

__all__ = ["BODY_COLOR", "EchoStage", "PreviewStage", "RenderStage", "render_stages"]

BODY_COLOR = (0.78, 0.66, 0.58)


class RenderStage:
    """The posed body and its garments -> the session's views (mosaic/tracks), stereo eyes, or the AR mirror
    (garments over the webcam frame, the fitted body a depth-only occluder, `ctx.occluder_mask` kept in front)."""

    name = "render"

    def __init__(self, egl_device: int | None = None) -> None:
        from render.renderer import Renderer

        self.renderer = Renderer(egl_device=egl_device)

    def process(self, ctx: FrameContext) -> None:
        from render.scene import Mesh, Scene

        s = ctx.state
        posed = ctx.posed
        if posed is None:
            self._waiting(ctx)
            return
        garments = ctx.garments
        # anny's body is closed and wound outwards: culling its back faces saves ~30% of llvmpipe's work per frame
        body = Mesh("body", posed.vertices, posed.faces, base_color=BODY_COLOR, double_sided=False)
        scene = Scene([body, *garments])
        side = min(s.view_size)
        if s.layout == "mirror":
            tracking = ctx.tracking
            mask = tracking.mask if tracking is not None and tracking.present else None
            if garments:  # AR: garments over the person, the fitted body as a depth-only occluder
                body.visible = False
                comp = self.renderer.composite_ar(
                    ctx.frame.image, scene, posed.camera, person_mask=mask, occluder_mask=ctx.occluder_mask
                )
            else:  # nothing selected: a translucent fitted body shows the tracking
                comp = self.renderer.composite_ar(ctx.frame.image, scene, posed.camera, person_mask=mask)
                comp = cv2.addWeighted(ctx.frame.image, 0.45, comp, 0.55, 0)
            ctx.mirror = fit_image(cv2.flip(comp, 1), s.view_size)
            return
        if s.layout == "stereo":
            out = self.renderer.render_views(scene, [s.view], "stereo", view_size_px=side)
            left, right = out.image[:, :side], out.image[:, side:]
            ctx.eyes = (fit_image(left, s.view_size), fit_image(right, s.view_size))
            return
        out = self.renderer.render_views(scene, list(s.views), "tracks", view_size_px=side, labels=False)
        for v, img in zip(s.views, out.views, strict=True):
            tile = fit_image(img, s.view_size)
            label(tile, v.replace("_", " "), "top")
            ctx.views[v] = tile

    @staticmethod
    def _waiting(ctx: FrameContext) -> None:
        s = ctx.state
        tile = blank(s.view_size, 40)
        label(tile, "step into view", "top")
        if s.layout == "mirror":
            ctx.mirror = fit_image(cv2.flip(ctx.frame.image, 1), s.view_size)
            label(ctx.mirror, "step into view", "top")
        elif s.layout == "stereo":
            ctx.eyes = (tile, tile.copy())
        else:
            ctx.views = {v: tile.copy() for v in s.views}

    def close(self) -> None:
        self.renderer.close()


class EchoStage:
    """Returns the input frame unchanged as the only output (benchmark baseline)."""

    name = "echo"

    def process(self, ctx: FrameContext) -> None:
        ctx.outputs = [ctx.frame.image]

    def close(self) -> None:
        pass


_VIEW_TINT = {
    "front": (1.0, 1.0, 1.0),
    "back": (0.75, 0.8, 1.0),
    "left": (1.0, 0.9, 0.8),
    "right": (0.85, 1.0, 0.85),
    "three_quarter": (1.0, 0.85, 1.0),
}


class PreviewStage:
    """Stand-in for avatar+render: each view is the webcam frame (back mirrored, sides squeezed, tinted) with
    its name and the session's outfit and size written on it, so layouts and commands are visible end to end."""

    name = "preview"

    def process(self, ctx: FrameContext) -> None:
        s = ctx.state
        size = s.view_size
        img = ctx.frame.image
        caption = self._caption(s)
        if s.layout == "mirror":
            m = fit_image(cv2.flip(img, 1), size)
            label(m, caption, "bottom")
            ctx.mirror = m
            return
        if s.layout == "stereo":
            base = fit_image(img, size)
            shift = max(2, size[0] // 80)
            left, right = np.roll(base, shift, axis=1), np.roll(base, -shift, axis=1)
            label(left, f"L {s.view} | {caption}", "bottom")
            label(right, f"R {s.view} | {caption}", "bottom")
            ctx.eyes = (left, right)
            return
        base = fit_image(img, size)  # one resize per frame; the other views derive from it
        w, h = size
        for v in s.views:
            if v in ("left", "right", "three_quarter"):
                sw = max(2, int(w * (0.6 if v != "three_quarter" else 0.8))) // 2 * 2
                tile = blank(size)
                x0 = (w - sw) // 2
                tile[:, x0 : x0 + sw] = cv2.resize(base, (sw, h), interpolation=cv2.INTER_LINEAR)
            elif v == "back":
                tile = cv2.flip(base, 1)
            else:
                tile = base.copy()
            if v != "front":
                tile = cv2.multiply(tile, (*_VIEW_TINT[v], 0.0))  # type: ignore[call-overload]
            label(tile, v.replace("_", " "), "top")
            label(tile, caption, "bottom", 0.45)
            ctx.views[v] = tile

    @staticmethod
    def _caption(s: RenderState) -> str:
        items = ", ".join(" ".join(str(it.get(k)) for k in ("color", "category") if it.get(k)) for it in s.outfit)
        parts = [items or "no outfit", f"size {s.size or '-'}"]
        if s.fit_map:
            parts.append("fit map")
        return " | ".join(parts)

    def close(self) -> None:
        pass


def render_stages(egl_device: int | None = None) -> list[RenderStage]:
    """The back of a pipeline that only renders (`render.process`'s default)."""
    return [RenderStage(egl_device=egl_device)]
