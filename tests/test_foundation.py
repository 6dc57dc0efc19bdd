"""Foundation: the CLI, configuration, doctor and set-up behave as a newcomer expects."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from fitmirror.config import REPO_ROOT, Settings

FITMIRROR = str(Path(sys.executable).parent / "fitmirror")


def run(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [FITMIRROR, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=REPO_ROOT,
    )


def test_help_lists_every_subcommand():
    r = run("--help")
    assert r.returncode == 0
    for cmd in ("serve", "nlu", "avatar", "size", "bench", "doctor"):
        assert f"  {cmd} " in r.stdout


def test_unknown_command_is_a_clear_error_not_a_traceback():
    r = run("fly")
    assert r.returncode == 2
    assert "unknown command 'fly'" in r.stderr
    assert "Traceback" not in r.stderr


def test_environment_overrides_settings(monkeypatch):
    monkeypatch.setenv("FITMIRROR_PORT", "9123")
    monkeypatch.setenv("FITMIRROR_ICE_LOOPBACK", "1")
    s = Settings()
    assert s.port == 9123 and s.ice_loopback is True
    monkeypatch.setenv("FITMIRROR_PORT", "not-a-port")
    with pytest.raises(ValidationError):
        Settings()


def test_doctor_reports_every_component_ok():
    r = run("doctor", "--json")
    report = json.loads(r.stdout)
    by_name = {c["component"]: c for c in report["components"]}
    for name in ("torch", "egl", "render_backend", "mediapipe", "anny", "llm", "whisper", "embeddings", "codecs"):
        assert by_name[name]["status"] == "ok", f"{name}: {by_name[name]['detail']}"
    assert "llvmpipe" in by_name["egl"]["detail"] or "NVIDIA" in by_name["egl"]["detail"]
    assert "nvenc" in by_name and "non-commercial" in by_name["render_backend"]["detail"]
    assert report["ok"] is True and r.returncode == 0


def test_doctor_table_says_why_something_is_missing(tmp_path):
    r = run("doctor", env={"FITMIRROR_CACHE_DIR": str(tmp_path)})
    assert r.returncode == 1
    assert "MISSING" in r.stdout and "fitmirror setup --only llm" in r.stdout


def test_second_setup_skips_finished_steps_quickly():
    r = run("setup", "--only", "llm", "whisper", "anny")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("already done") == 3


def test_readme_documents_every_setting_and_the_two_commands():
    readme = (REPO_ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    missing = [n for n in Settings.model_fields if f"FITMIRROR_{n.upper()}" not in readme]
    assert not missing, f"README configuration reference lacks {missing}; regenerate with `fitmirror doctor --config`"
