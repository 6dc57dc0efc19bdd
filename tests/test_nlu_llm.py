"""LLM path: the real local GGUF model turns free-form requests into schema-valid actions; the OpenAI-compatible
backend talks to a real HTTP peer (a tiny aiohttp server on 127.0.0.1 speaking the chat-completions API)."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from aiohttp import web

from fitmirror.config import get_settings
from nlu.context import ParseContext
from nlu.llm import LlamaCppBackend, OpenAIBackend, decode_command
from nlu.parser import parse
from nlu.schema import Command


@pytest.fixture(scope="module")
def llama() -> LlamaCppBackend:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python wheel not installed (fitmirror setup)")
    if not get_settings().llm_gguf.is_file():
        pytest.fail(f"LLM weights missing at {get_settings().llm_gguf}: run `fitmirror setup --only llm`")
    b = LlamaCppBackend(n_threads=1)  # 1 thread beats 2 on a busy 2-core CI box
    b.warm()
    return b


@pytest.mark.slow
def test_llm_parses_free_form(llama: LlamaCppBackend) -> None:
    ctx = ParseContext(lang="en")
    r = parse("I'd love something elegant to wear at my friend's beach wedding", ctx, backend="llm", llm=llama)
    assert r.backend_used == "llm:llama_cpp"
    Command(actions=r.actions, reply=r.reply)  # schema-valid
    assert r.actions and r.actions[0].type in ("select", "recommend")
    said = " ".join(f"{getattr(a, 'occasion', '')} {getattr(a, 'text', '')}" for a in r.actions).lower()
    assert any(w in said for w in ("wedding", "beach", "formal", "elegant")), llama.last_stats.get("raw")
    # the second call reuses the system prompt's KV cache: only the user message is evaluated
    assert llama.last_stats["cached_tokens_before"] >= 400
    r2 = parse("帮我找一条适合夏天穿的透气的裙子", ParseContext(lang="zh"), backend="llm", llm=llama)
    assert r2.actions and r2.actions[0].type == "select"
    assert r2.actions[0].category in ("dress", "skirt")
    assert any("\u4e00" <= ch <= "\u9fff" for ch in r2.reply)
    # multi-action through the grammar (a schema with re-ordered keys once made set_size unreachable)
    r3 = parse("let me try the navy coat in large", ParseContext(), backend="llm", llm=llama)
    assert [a.model_dump(exclude_none=True) for a in r3.actions] == [
        {"type": "select", "category": "coat", "color": "navy"},
        {"type": "set_size", "size": "L"},
    ], llama.last_stats.get("raw")


def test_invalid_llm_output_means_no_action() -> None:
    cmd, ok = decode_command('{"actions":[{"type":"teleport","where":"moon"}],"reply":"ok"}')
    assert not ok and cmd.actions == []
    cmd, ok = decode_command("Sure! Here is your dress.")
    assert not ok
    cmd, ok = decode_command('{"actions":[{"type":"set_size","size":"M","category":"dress"}],"reply":"ok"}')
    assert not ok  # extra field not in the schema


class _StubServer:
    """Minimal OpenAI chat-completions server: answers from the last user line, records requests."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.port = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        user = body["messages"][-1]["content"]
        if "turn" in user:
            content = {"actions": [{"type": "view", "view": "back"}], "reply": "Back view."}
        elif "junk" in user:
            return web.json_response({"choices": [{"message": {"role": "assistant", "content": "no json here"}}]})
        else:
            content = {"actions": [{"type": "select", "category": "dress", "occasion": "wedding"}], "reply": "ok"}
        return web.json_response(
            {
                "id": "x",
                "object": "chat.completion",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "```json\n" + json.dumps(content) + "\n```"},
                    }
                ],
            }
        )

    def start(self) -> None:
        def run() -> None:
            self._loop = asyncio.new_event_loop()
            app = web.Application()
            app.router.add_post("/v1/chat/completions", self._handle)
            runner = web.AppRunner(app)
            self._loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, "127.0.0.1", 0)
            self._loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            self._runner = runner
            self._ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(runner.cleanup())

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        assert self._ready.wait(10)

    def stop(self) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def test_openai_compatible_backend() -> None:
    srv = _StubServer()
    srv.start()
    try:
        b = OpenAIBackend(f"http://127.0.0.1:{srv.port}/v1", "qwen2.5-coder:1.5b", timeout_s=5)
        r = parse("find me an outfit for my cousin's wedding next month", ParseContext(), backend="llm", llm=b)
        assert r.backend_used == "llm:openai"
        assert [a.model_dump(exclude_none=True) for a in r.actions] == [
            {"type": "select", "category": "dress", "occasion": "wedding"}
        ]
        req = srv.requests[-1]
        assert req["model"] == "qwen2.5-coder:1.5b" and req["temperature"] == 0.0
        # the model outputs actions only; replies are templated from them (fewer tokens to generate)
        sent_schema = req["response_format"]["json_schema"]["schema"]
        assert sent_schema["required"] == ["actions"] and "reply" not in sent_schema["properties"]
        assert "find me an outfit" in req["messages"][-1]["content"]
        assert req["messages"][0]["role"] == "system"
        r = parse("please turn me around slowly so I see it", backend="llm", llm=b)
        assert [a.type for a in r.actions] == ["view"]
        r = parse("junk reply please", backend="llm", llm=b)
        assert r.actions == [] and r.reply
    finally:
        srv.stop()


def test_llm_queue_is_bounded() -> None:
    """A flood of free-form commands gets CapacityError instead of an unbounded queue behind the model."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    from fitmirror.errors import CapacityError
    from nlu.llm import _Base

    class Slow(_Base):
        name = "slow"

        def complete(self, system: str, user: str, schema: dict, max_tokens: int) -> str:
            time.sleep(0.4)
            return '{"actions":[],"reply":"ok"}'

    b = Slow()
    b.max_waiting = 1
    with ThreadPoolExecutor(4) as ex:
        futs = [ex.submit(b.parse, "hello there", ParseContext(), "en") for _ in range(4)]
        outcomes = []
        for f in futs:
            try:
                outcomes.append(f.result()[1])
            except CapacityError:
                outcomes.append("busy")
    assert "busy" in outcomes and True in outcomes


def test_compact_syntax() -> None:
    """The local LLM's compact output syntax maps onto the same Command as the JSON; its grammar compiles."""
    from nlu import compact

    cmd = compact.to_command('select dress blue "light summer"; set_size M; adjust sleeve_length -1; view back')
    assert [a.model_dump(exclude_none=True) for a in cmd.actions] == [
        {"type": "select", "category": "dress", "color": "blue", "text": "light summer"},
        {"type": "set_size", "size": "M"},
        {"type": "adjust", "attribute": "sleeve_length", "direction": -1},
        {"type": "view", "view": "back"},
    ]
    assert compact.to_command("none").actions == []
    echo = compact.to_command(
        "select jacket brown; set_color brown; select dress party; recommend party; set_color red"
    )
    assert [a.type for a in echo.actions] == ["select", "select", "set_color"]
    assert compact.to_command('select "透气的裙子"').actions[0].category == "skirt"  # the description names it
    # a vocabulary word left in the description moves to its field; nothing else left -> no description
    navy = compact.to_command('select coat "藏青色"').actions[0]
    assert (navy.category, navy.color, navy.text) == ("coat", "navy", None)
    assert compact.to_command("set_measurement height 175; fit_map off").actions[1].on is False
    with pytest.raises(ValueError):
        compact.to_command("select teleport")
    with pytest.raises(ValueError):
        compact.to_command("set_measurement height 9999")  # out of range: pydantic's ValidationError
    llama_cpp = pytest.importorskip("llama_cpp")
    assert llama_cpp.LlamaGrammar.from_string(compact.grammar(), verbose=False)


def test_llm_output_is_grounded_in_what_was_said() -> None:
    """The 1.5B model copied the outfit in the context into its answer ("something elegant for a wedding in blue"
    while wearing a white tee -> white, size 38): a colour or an absolute size nobody said is dropped; relative
    sizes and what was said stay. The context is well-formed and says only what is known."""
    from nlu.context import OutfitItem
    from nlu.parser import ground_actions
    from nlu.schema import Select, SetColor, SetSize

    ctx = ParseContext(outfit=[OutfitItem(id="tee-classic", category="tshirt", color="white")])
    assert ctx.prompt_summary() == "(wearing now: tee-classic (tshirt, white))"

    def grounded(text: str, actions: list) -> list[dict]:
        return [a.model_dump(exclude_none=True) for a in ground_actions(actions, ctx, text)]

    made_up = [Select(category="dress", color="white"), SetColor(color="white"), SetSize(size="38")]
    assert grounded("something elegant for a wedding", made_up) == [{"type": "select", "category": "dress"}]
    said = [Select(category="dress", color="blue"), SetSize(size="M"), SetSize(size="+1")]
    assert grounded("the blue dress in size M", said) == [a.model_dump(exclude_none=True) for a in said]
    assert grounded("换成红色", [SetColor(color="red")]) == [{"type": "set_color", "color": "red"}]
    assert grounded("38码", [SetSize(size="38")]) == [{"type": "set_size", "size": "38"}]
    assert grounded("a bit bigger please", [SetSize(size="+1")]) == [{"type": "set_size", "size": "+1"}]
