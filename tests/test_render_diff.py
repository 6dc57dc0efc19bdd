"""Differentiable path: GL visibility + torch barycentrics; gradients checked against finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from render import diff
from render.cameras import CameraRig, PinholeCamera, cv_to_gl_points
from render.scene import cylinder_mesh


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Small tensors: one intra-op thread is ~9x faster than two on a busy 2-core machine (measured)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _setup(view: str = "three_quarter", size: int = 128):
    m = cylinder_mesh(segments=32, rings=8)
    cam = CameraRig(center=(0, 1.2, 0), height_m=0.8).camera(view, size)
    return m, cam


def test_interpolated_colours_match_gl_coverage_and_depth():
    m, cam = _setup()
    v = torch.tensor(m.vertices)
    frags = diff.rasterize(v, m.faces, cam)
    assert frags.mask.sum() > 1000
    assert torch.allclose(frags.bary.sum(-1), torch.ones(len(frags.pix)), atol=1e-5)
    assert (frags.bary > -1e-3).all()  # the pixel centres lie inside their GL triangles
    # depth of the front surface: the camera distance minus about the radius
    d = frags.depth.detach()
    assert abs(float(d.min()) - (CameraRig(center=(0, 1.2, 0), height_m=0.8).distance_m - 0.16)) < 0.02


def _fd_check(loss, v: torch.Tensor, n: int = 6, eps: float = 1e-6, seed: int = 0):
    v = v.detach().clone().requires_grad_(True)
    loss(v).backward()
    g = v.grad
    idx = torch.nonzero(g.abs().sum(1) > 0).squeeze(1)
    assert len(idx) > 10
    rng = np.random.default_rng(seed)
    worst = 0.0
    for i in rng.choice(idx.numpy(), n, replace=False):
        for k in range(3):
            vp, vm = v.detach().clone(), v.detach().clone()
            vp[i, k] += eps
            vm[i, k] -= eps
            with torch.no_grad():
                fd = float(loss(vp) - loss(vm)) / (2 * eps)
            worst = max(worst, abs(fd - float(g[i, k])) / (abs(fd) + 1e-3))
    return worst


def test_colour_gradients_match_finite_differences():
    m, cam = _setup()
    v = torch.tensor(m.vertices, dtype=torch.float64)
    ids = diff.rasterize(v, m.faces, cam).tri_id  # visibility held fixed, as in the design
    gen = torch.Generator().manual_seed(0)
    colors = torch.rand(len(v), 3, dtype=torch.float64, generator=gen, requires_grad=True)
    weights = torch.rand(cam.height, cam.width, 3, dtype=torch.float64, generator=gen)

    def loss(vx):
        return (diff.interpolate(colors, diff.rasterize(vx, m.faces, cam, tri_id=ids)) * weights).sum()

    assert _fd_check(loss, v) < 1e-4
    # colours get gradients too
    colors.grad = None
    loss(v).backward()
    assert colors.grad.abs().sum() > 0


def test_silhouette_gradients_match_finite_differences():
    m, cam = _setup("front")
    v = torch.tensor(m.vertices, dtype=torch.float64)
    ids = diff.rasterize(v, m.faces, cam).tri_id
    weights = torch.rand(cam.height, cam.width, dtype=torch.float64, generator=torch.Generator().manual_seed(1))

    def loss(vx):
        return (
            diff.soft_silhouette(vx, m.faces, cam, frags=diff.rasterize(vx, m.faces, cam, tri_id=ids)) * weights
        ).sum()

    assert _fd_check(loss, v) < 1e-4

    # with re-rasterisation at each step (tiny eps keeps visibility): still matches
    def loss2(vx):
        return (diff.soft_silhouette(vx, m.faces, cam) * weights).sum()

    assert _fd_check(loss2, v, n=3, eps=1e-7) < 1e-3


def test_silhouette_loss_moves_the_mesh_to_the_target(artifacts):
    m = cylinder_mesh(segments=48, rings=12)
    cam = CameraRig(center=(0, 1.2, 0), height_m=0.9).camera("front", 128)
    v0 = torch.tensor(m.vertices)
    c = torch.tensor([0.0, 1.2, 0.0])
    true_t, true_s = torch.tensor([0.04, -0.03, 0.0]), 0.15
    with torch.no_grad():
        target = diff.soft_silhouette((v0 - c) * torch.tensor([1 + true_s, 1, 1 + true_s]) + c + true_t, m.faces, cam)
    sigma = 2.0
    tb = diff.blur(target, sigma)
    t = torch.zeros(3, requires_grad=True)
    s = torch.zeros(1, requires_grad=True)
    params = [t, s]
    moments = [(torch.zeros_like(p), torch.zeros_like(p)) for p in params]
    losses = []
    for it in range(30):
        v = (v0 - c) * torch.cat([1 + s, torch.ones(1), 1 + s]) + c + t
        sil = diff.soft_silhouette(v, m.faces, cam, sigma_px=sigma)
        loss = ((sil - tb) ** 2).mean()
        for p in params:
            p.grad = None
        loss.backward()
        if it == 0:
            first = sil.detach()
            # gradients live at the silhouette edges
            vv = v.detach().requires_grad_(True)
            diff.soft_silhouette(vv, m.faces, cam).sum().backward()
            assert vv.grad.abs().sum() > 0
        _adam_step(params, moments, it + 1, lr=0.01)
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.1 * losses[0], losses
    t, s = t.detach(), s.detach()
    assert abs(float(t[0]) - 0.04) < 0.015 and abs(float(t[1]) + 0.03) < 0.015 and abs(float(s) - true_s) < 0.05
    pic = torch.cat([first, tb, sil.detach()], 1).clamp(0, 1).numpy()
    Image.fromarray((pic * 255).astype(np.uint8)).save(artifacts / "render_diff_silhouette_fit.png")


def _adam_step(params, moments, step: int, lr: float, b1: float = 0.9, b2: float = 0.999) -> None:
    """Adam by hand: torch.optim's first import pulls in torch._dynamo (5 s here)."""
    with torch.no_grad():
        for p, (m, v) in zip(params, moments, strict=True):
            m.mul_(b1).add_(p.grad, alpha=1 - b1)
            v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
            p -= lr * (m / (1 - b1**step)) / ((v / (1 - b2**step)).sqrt() + 1e-8)


def test_pinhole_camera_lands_points_on_their_pixels():
    """A vertex fitted in webcam space projects where `PinholeCamera.project_cv` says (the AR alignment)."""
    cam = PinholeCamera(500.0, 500.0, 160.0, 120.0, 320, 240)
    pts_cv = np.array([[0.1, -0.05, 2.0], [-0.2, 0.1, 1.5]], np.float32)
    v = torch.tensor(cv_to_gl_points(pts_cv))
    screen, _ = diff.project(v, cam.camera())
    assert np.allclose(screen.numpy(), cam.project_cv(pts_cv), atol=1e-3)


def test_render_colors_is_an_antialiased_image_with_gradients():
    m, cam = _setup("front", 96)
    v = torch.tensor(m.vertices, requires_grad=True)
    colors = torch.tensor([[1.0, 0.0, 0.0]]).repeat(len(v), 1).requires_grad_(True)
    img = diff.render_colors(v, m.faces, colors, cam, background=1.0)
    assert img.shape == (96, 96, 3)
    red = (img[..., 0] > 0.99) & (img[..., 1] < 0.01)
    partial = (img[..., 1] > 0.02) & (img[..., 1] < 0.98)  # antialiased edge pixels
    assert red.sum() > 500 and partial.sum() > 20
    img[..., 1].sum().backward()
    assert v.grad.abs().sum() > 0 and colors.grad.abs().sum() > 0


def test_backend_selection_refuses_nvdiffrast_without_licence(monkeypatch):
    from fitmirror.config import get_settings
    from fitmirror.errors import ConfigError, SetupError
    from render.backends import ModernglRasterizer, make_rasterizer

    try:
        monkeypatch.setenv("FITMIRROR_RENDER_BACKEND", "nvdiffrast")
        monkeypatch.delenv("FITMIRROR_ACCEPT_NVDIFFRAST_LICENSE", raising=False)
        get_settings.cache_clear()
        with pytest.raises(ConfigError, match="non-commercial"):
            make_rasterizer()
        monkeypatch.setenv("FITMIRROR_ACCEPT_NVDIFFRAST_LICENSE", "1")
        get_settings.cache_clear()
        with pytest.raises(SetupError):  # no nvdiffrast / no CUDA on this machine: a clear error, no fallback
            make_rasterizer()
        monkeypatch.setenv("FITMIRROR_RENDER_BACKEND", "moderngl")
        get_settings.cache_clear()
        assert isinstance(make_rasterizer(), ModernglRasterizer)
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_silhouette_in_webcam_space_with_a_pinhole_camera():
    """Shape-from-photo setting: the mesh in the webcam's camera frame, the camera given by intrinsics."""
    cam = PinholeCamera.from_fov(160, 120, 60)
    m = cylinder_mesh(radius_m=0.2, height_m=0.6, center=(0, 0, 0), segments=24, rings=4)
    v = torch.tensor(cv_to_gl_points(m.vertices + np.float32([0, 0, 2.5])), requires_grad=True)
    sil = diff.soft_silhouette(v, m.faces, cam, sigma_px=1.0)
    assert sil.shape == (120, 160) and sil.max() > 0.99 and sil[0, 0] < 0.01
    # the silhouette's centre of mass is where the mesh centre projects
    _ys, xs = torch.meshgrid(torch.arange(120) + 0.5, torch.arange(160) + 0.5, indexing="ij")
    cx = float((sil * xs).sum().detach() / sil.sum().detach())
    assert abs(cx - cam.cx) < 0.5
    (sil * xs).sum().backward()  # moving the mesh right moves the mass right: positive x gradient
    assert float(v.grad[:, 0].sum()) > 0
