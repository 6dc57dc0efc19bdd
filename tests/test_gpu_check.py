"""scripts/gpu_check.py in its CPU mode (this machine has no GPU): every row is there, the GPU rows say why they
were skipped, the CPU rows have numbers, and a capacity estimate and a Markdown report come out."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from fitmirror.config import REPO_ROOT, get_settings


def test_gpu_check_cpu_mode(tmp_path):
    if not get_settings().anny_cache_dir.is_dir():
        pytest.skip("anny cache missing: run `fitmirror setup` (builds it once, ~75 s)")
    r = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "gpu_check.py"), "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO_ROOT,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads((tmp_path / "results.json").read_text())
    for key in ("machine", "tracking", "body_cuda", "body_cpu", "render", "render_cpu", "encode", "nvdiffrast"):
        assert key in res, key
        assert res[key]["status"] in ("ok", "skipped"), (key, res[key])
        if res[key]["status"] == "skipped":
            assert res[key]["reason"], key
    import torch

    if not torch.cuda.is_available():
        assert res["body_cuda"]["status"] == "skipped" and "CUDA" in res["body_cuda"]["reason"]
        assert res["machine"]["torch_device_auto"] == "cpu"
    cpu = res["body_cpu"]
    assert cpu["pose_solve"]["median_ms"] > 0 and cpu["anny_forward"]["median_ms"] > 0
    assert cpu["drape"]["warm_24_substeps_s"] > 0
    assert isinstance(cpu["shape_typed_height_weight_s"], float)
    enc = res["encode"]
    assert enc["libx264_ultrafast"]["status"] == "ok" and enc["vp8"]["status"] == "ok"
    assert enc["h264_nvenc"]["status"] in ("ok", "skipped")
    assert res["sessions"]["status"] == "skipped" and res["sessions"]["reason"] == "--quick"
    cap = res["capacity"]
    assert cap["estimate_sessions_per_gpu"] >= 1 and cap["cores_per_session"] > 0
    md = (tmp_path / "RESULTS.md").read_text()
    assert "pose solve per frame" in md and "Capacity per GPU" in md
