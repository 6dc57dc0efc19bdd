"""`fitmirror nlu` prints the command JSON for typed commands, with and without a context file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fitmirror.cli import main as fitmirror_main


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = fitmirror_main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_text_command_json(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(["nlu", "show me the blue dress in size M", "--json"], capsys)
    assert rc == 0
    d = json.loads(out)
    assert d["actions"] == [{"type": "select", "category": "dress", "color": "blue"}, {"type": "set_size", "size": "M"}]
    assert d["backend_used"] == "rules" and d["reply"]
    rc, out, _ = run(["nlu", "换成红色", "--lang", "zh", "--backend", "rules", "--json"], capsys)
    d = json.loads(out)
    assert d["actions"] == [{"type": "set_color", "color": "red"}] and d["lang"] == "zh"


def test_context_file_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ctx = {
        "lang": "zh",
        "outfit": [{"id": "d1", "category": "dress", "color": "red"}],
        "history": [{"text": "蓝色连衣裙", "outfit": [{"id": "d2", "category": "dress", "color": "blue"}]}],
    }
    f = tmp_path / "ctx.json"
    f.write_text(json.dumps(ctx, ensure_ascii=False))
    rc, out, _ = run(["nlu", "换回刚才那件", "--context", str(f), "--json"], capsys)
    assert rc == 0
    assert json.loads(out)["actions"][0] == {"type": "select", "category": "dress", "color": "blue", "product_id": "d2"}
    rc, _, err = run(["nlu", "x" * 2000], capsys)
    assert rc == 1 and "limit" in err
