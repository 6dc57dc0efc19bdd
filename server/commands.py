"""Natural-language commands -> actions, through nlu/: the rules path inline, the LLM path on the manager's
single nlu thread (one LLM call at a time per server)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nlu.schema import Action

log = logging.getLogger("fitmirror.server.commands")


@dataclass
class CommandResult:
    """A parsed command: `actions` are nlu's typed action models (what `SessionState.apply_all` takes). Plain
    dicts (the LLM worker's JSON, from another process) are validated into models here, once; models from the
    in-process parser pass through as they are."""

    actions: list[Action]
    reply: str
    backend: str
    lang: str = "en"  # the utterance's language (replies and refusals follow it)

    def __post_init__(self) -> None:
        from server.state import validate_actions

        self.actions = validate_actions(self.actions)

    def actions_json(self) -> list[dict[str, Any]]:
        """The actions as JSON objects ({"type": "set_size", "size": "M"}), None fields left out."""
        return [a.model_dump(exclude_none=True) for a in self.actions]


def _context(lang: str, state: Any) -> Any:
    from nlu.context import OutfitItem, ParseContext

    outfit = []
    for i, item in enumerate(getattr(state, "outfit", [])):
        try:
            outfit.append(OutfitItem(id=str(item.get("product_id") or f"item{i}"), **item))
        except Exception:  # an item the nlu vocabulary does not know (e.g. no category): leave it out
            continue
    return ParseContext(lang=lang, outfit=outfit)


def parse_fast(text: str, lang: str, state: Any) -> CommandResult | None:
    """Rules path (sub-millisecond): runs inline on the event loop; None means the LLM is needed."""
    from nlu.parser import parse_fast as nlu_parse_fast

    res = nlu_parse_fast(text, _context(lang, state))
    return None if res is None else CommandResult(res.actions, res.reply, res.backend_used, res.lang)


def warm_up() -> float:
    """Run the rules' warm-up commands through the rules path as a command does: imports nlu.parser and its
    modules and compiles the rules' patterns (~0.15 s) at start-up, instead of on the event loop in the first
    shopper's command (which took 100-175 ms there, stalling that session's video). Returns seconds."""
    import time

    from nlu.replies import detect_lang
    from nlu.rules import WARM_UP_TEXTS
    from server.state import SessionState

    t0 = time.perf_counter()
    state = SessionState(views=("front",), layout="mosaic", view_size=(384, 384))
    for text in WARM_UP_TEXTS:
        parse_fast(text, detect_lang(text), state)
    return time.perf_counter() - t0


def llm_context(lang: str, state: Any) -> dict[str, Any]:
    """The parse context as plain data, for the LLM worker process."""
    return _context(lang, state).model_dump(mode="json")


def preload_llm_in_process() -> float:
    """Load the in-process LLM and evaluate its fixed system prompt (blocking); 0 when the LLM is off."""
    import time

    from nlu.llm import load_and_warm

    t0 = time.monotonic()
    load_and_warm()
    return round(time.monotonic() - t0, 2)


def parse_command(text: str, lang: str, state: Any) -> CommandResult:
    """Blocking (may call the LLM): run on the manager's single nlu thread (no LLM worker)."""
    from nlu.parser import parse as nlu_parse

    res = nlu_parse(text, _context(lang, state))
    return CommandResult(res.actions, res.reply, res.backend_used, res.lang)
