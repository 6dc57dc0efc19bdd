"""Natural-language commands -> actions, through nlu/. Runs on the manager's single nlu thread.

Uses nlu's full parser (rules, then LLM) when it exists, else nlu's rules parser alone. A missing nlu is an
explicit `nlu_unavailable` error, never a silent no-op.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from fitmirror.errors import ModelUnavailableError

log = logging.getLogger("fitmirror.server.commands")


class CommandUnavailable(ModelUnavailableError):
    code = "nlu_unavailable"


@dataclass
class CommandResult:
    actions: list[dict[str, Any]]
    reply: str
    backend: str


def _context(lang: str, state: Any) -> Any:
    from nlu.context import OutfitItem, ParseContext

    outfit = []
    for i, item in enumerate(getattr(state, "outfit", [])):
        try:
            outfit.append(OutfitItem(id=str(item.get("product_id") or f"item{i}"), **item))
        except Exception:  # an item the nlu vocabulary does not know (e.g. no category): leave it out
            continue
    return ParseContext(lang=lang, outfit=outfit)


def _dump(actions: list[Any]) -> list[dict[str, Any]]:
    return [a.model_dump(exclude_none=True) if hasattr(a, "model_dump") else dict(a) for a in actions]


def parse_command(text: str, lang: str, state: Any) -> CommandResult:
    """Blocking: call from a worker thread."""
    try:
        ctx = _context(lang, state)
    except ImportError as e:
        raise CommandUnavailable(
            f"the language stage is not installed ({e})", hint="send structured 'actions' messages instead"
        ) from None
    try:  # the full parser (rules + LLM), once nlu provides it
        from nlu.parser import parse as nlu_parse  # type: ignore[import-not-found]
    except ImportError:
        nlu_parse = None
    if nlu_parse is not None:
        try:
            res = nlu_parse(text, ctx)
        except ImportError as e:  # the LLM backend module is not there yet: rules only, and say so in the log
            log.warning("nlu LLM path unavailable (%s); parsing with rules only", e)
            res = nlu_parse(text, ctx, backend="rules")
        return CommandResult(_dump(res.actions), res.reply, getattr(res, "backend_used", "nlu"))
    from nlu.rules import parse_rules

    res = parse_rules(text, ctx)
    if res is None:
        reply = "抱歉，我没听懂。" if lang == "zh" else "Sorry, I did not understand that."
        return CommandResult([], reply, "rules")
    return CommandResult(_dump(res.actions), res.reply, "rules")
