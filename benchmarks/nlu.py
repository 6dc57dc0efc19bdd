"""Language and voice benchmark (`fitmirror bench --only nlu`).

- exact match of actions + key fields on tests/data/nlu_commands.jsonl, per path: rules only, auto (rules, LLM when
  the rules are unsure), LLM only (a subset: the 1.5B model takes seconds per call on 2 cores);
- slot F1 (colour, type, pattern, sleeve length, size) on SIMMC 2.0 fashion user turns, next to the published
  GPT-2 baseline (0.735, SIMMC 2.1 devtest; a different split, so indicative only);
- latency per path; LLM system-prompt KV reuse (cold vs warm prefix);
- speech: real-time factor of faster-whisper base on 2 threads, WER (English) and CER (Mandarin) on commands
  synthesised offline with espeak-ng, and how many spoken commands still parse to the gold actions.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import REPO_ROOT, SHARED_DATA, cli, load_avg, pct
from nlu.context import ParseContext
from nlu.schema import ActionAdapter, key_view

DATA = REPO_ROOT / "tests" / "data" / "nlu_commands.jsonl"
SIMMC = SHARED_DATA / "simmc2-fashion" / "simmc2_dev_part1.json"
GPT2_SLOT_F1 = 0.735


def load_set(path: Path = DATA) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _ctx(row: dict) -> ParseContext:
    return ParseContext(**row["context"]) if row.get("context") else ParseContext(lang=row["lang"])


def _gold(row: dict) -> list:
    return key_view([ActionAdapter.validate_python(a) for a in row["actions"]])


def exact_match(rows: list[dict], backend: str, llm: Any = None) -> dict:
    from nlu.parser import parse

    ok, lat, errors, used = 0, [], [], {}
    split: dict[str, list[float]] = {"prompt_eval_ms": [], "prompt_eval_tokens": [], "gen_ms": [], "gen_tokens": []}
    for r in rows:
        if llm is not None:
            llm.last_stats = {}
        res = parse(r["text"], _ctx(r), backend=backend, llm=llm)  # type: ignore[arg-type]
        lat.append(res.latency_ms)
        st = getattr(llm, "last_stats", None) or {}
        if res.backend_used.startswith("llm") and "gen_ms" in st:
            for k in split:
                split[k].append(st[k])
        used[res.backend_used.split(":")[0]] = used.get(res.backend_used.split(":")[0], 0) + 1
        if key_view(res.actions) == _gold(r):
            ok += 1
        elif len(errors) < 15:
            errors.append(
                {"id": r["id"], "text": r["text"], "got": [a.model_dump(exclude_none=True) for a in res.actions]}
            )
    n = max(1, len(rows))
    return {
        "n": len(rows),
        "exact_match": round(ok / n, 4),
        "latency_ms_p50": round(statistics.median(lat), 2) if lat else None,
        "latency_ms_p95": pct(lat, 0.95, 2),
        "paths": used,
        "errors": errors,
        # LLM calls only: median of the uncached prompt-tail evaluation and of generation (llama.cpp perf counters)
        "llm_split_p50": {k: round(statistics.median(v), 1) for k, v in split.items() if v},
    }


# ------------------------------------------------------------------------------------------------ SIMMC slot F1
_SIMMC_TYPE = {"hoodie": "sweater", "joggers": "trousers", "tank top": "tshirt"}
_SIMMC_PATTERN = [
    (r"stripe|striple", "striped"),
    (r"plaid|check", "checked"),
    (r"floral|leafy", "floral"),
    (r"spot|dot", "dotted"),
    (r"denim", "denim"),
    (r"knit", "knit"),
    (r"^plain$", "solid"),
]


def _norm_gold(slot: str, value: Any) -> set[str]:
    from nlu.rules import EN_COLOR

    vals = [v.strip().lower() for v in str(value).split(",") if v.strip()]
    out = set()
    for v in vals:
        if slot == "type":
            out.add(_SIMMC_TYPE.get(v, v))
        elif slot == "color":
            hit = next((c for p, c in EN_COLOR if re.fullmatch(p, v)), None)
            out.add(hit or v)
        elif slot == "pattern":
            hit = next((c for p, c in _SIMMC_PATTERN if re.search(p, v)), None)
            out.add(hit or v)
        elif slot == "sleeveLength":
            out.add({"full": "long", "half": "short"}.get(v, v))
        elif slot == "size":
            out.add(v.upper())
    return out


_SLEEVE = re.compile(r"\b(long|short|full|half)(?:[- ]length)?[- ]sleeve|sleeveless|长袖|短袖|无袖")

# SIMMC labels slots only for what the shopper searches for; "the brown hoodie" / "those gray ones" / "the red, white,
# and yellow one" name an object already in view (a reference, labelled as an object id), so the bench removes
# definite noun phrases first. After "like" / "similar to" / "as" the referenced object's type is what is searched
# for ("anything like the black dress" -> type dress, no colour), so there only the noun is kept.
_NOUN = (
    r"(?:t-?shirts?|shirts?|tank ?tops?|tanks?|tops?|blouses?|dress(?:es)?|coats?|jackets?|blazers?|hoodies?|"
    r"sweaters?|jeans|trousers|pants|joggers|skirts?|shorts|shoes|sneakers|ones?|pairs?(?: of (?:jeans|pants|shoes))?|items?)"
)
_DEFINITE_NP = re.compile(
    rf"\b(?:the|that|this|those|these|another|both)\b(?:\s+(?:[a-z-]+,?|and)){{0,8}}?\s+(?P<noun>{_NOUN})\b"
)
_COLOR_WORD = r"(?:(?:light|dark|bright)[ -]?)?(?:black|white|gr[ae]y|red|blue|green|yellow|pink|purple|violet|brown|maroon|olive|navy|beige|orange)"
# "the grey coat and the brown" / "how much for the red, white, and yellow?": a colour naming an object in view
_BARE_COLOR_REF = re.compile(rf"\b(?:the|that|those|this)\s+{_COLOR_WORD}(?:(?:,\s*|,?\s+and\s+|\s+){_COLOR_WORD})*\b")
_KEEP_NOUN_AFTER = re.compile(r"\b(?:like|similar to|as|than|to)\s*$")


def simmc_text(text: str) -> str:
    t = text.lower()

    def sub(m: re.Match) -> str:
        noun = m.group("noun")
        keep = _KEEP_NOUN_AFTER.search(t[: m.start()]) and not noun.startswith(("one", "pair", "item"))
        return f" {noun} " if keep else " "

    return _BARE_COLOR_REF.sub(" ", _DEFINITE_NP.sub(sub, t))


# Turns that are not searches carry no slots in SIMMC (add to cart, compare, ask about an item in view,
# disambiguate): a few phrases say which, as the GPT-2 baseline's act prediction would.
_NOT_SEARCH = re.compile(
    r"\bcart\b|\bi'?ll take\b|\bi will (?:take|buy)\b|\bbuying\b|\bcompare|\bwhich\b.*\b(?:cheaper|better reviews|"
    r"rated higher|more expensive|costs? more)\b|\bhow much\b|\b(?:price|cost|brand|size|sizes|rating|ratings|reviews?) "
    r"(?:of|for|and|range)\b|\bwhat (?:size|sizes|brand)\b|\btell me (?:about|the|who|what|how)\b|\bi mean\b|"
    r"^(?:the|that|oh sorry|sorry)\b|\bwho makes\b"
)
# types outside the catalogue's categories: asking for them starts a new search whose type the rules cannot name
_OTHER_TYPE = re.compile(r"\b(?:shoes?|sneakers|boots|hats?|suits?|vests?)\b")
# A search turn that names no type refines the running search ("any other options?", "anything in XS?")
_SLOTS = ("color", "type", "pattern", "sleeveLength", "size")


def simmc_track(state: dict[str, set[str]], text: str, pred: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Dialogue state over one dialogue: a new type starts a new search, other slots replace the running ones."""
    if _NOT_SEARCH.search(text.lower()):
        return set()
    new: dict[str, set[str]] = {}
    for s, v in pred:
        new.setdefault(s, set()).add(v)
    if "type" in new or _OTHER_TYPE.search(simmc_text(text)):
        state.clear()
    state.update(new)
    return {(s, v) for s, vs in state.items() for v in vs}


def _predict_slots(text: str, actions: list) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for a in actions:
        t = a.type
        if t == "select":
            if a.category:
                out.add(("type", a.category))
            if a.color:
                out.add(("color", a.color))
            if a.pattern:
                out.add(("pattern", a.pattern))
        elif t == "set_color":
            out.add(("color", a.color))
        elif t == "set_size" and a.size not in ("+1", "-1"):
            out.add(("size", a.size))
        elif t == "compare_sizes":
            out |= {("size", s) for s in a.sizes}
        elif t == "remove" and a.category:
            out.add(("type", a.category))
    # sleeve length is not an action field (the schema adjusts sleeves, it does not filter by them): read the phrase
    m = _SLEEVE.search(text.lower())
    if m:
        w = m.group(0)
        out.add(("sleeveLength", "sleeveless" if "less" in w or "无" in w else "long" if w[0] in "lf长" else "short"))
    return out


def simmc_slot_f1(limit: int | None = None, llm: Any = None, track: bool = True) -> dict:
    from nlu.rules import parse_rules

    if not SIMMC.is_file():
        return {"error": f"{SIMMC} not found"}
    slots = ("color", "type", "pattern", "sleeveLength", "size")
    data = json.loads(SIMMC.read_text())["dialogue_data"]
    tp = fp = fn = 0
    n = 0
    per: dict[str, list[int]] = {s: [0, 0, 0] for s in slots}
    for dia in data:
        state: dict[str, set[str]] = {}
        for turn in dia["dialogue"]:
            if limit is not None and n >= limit:
                break
            n += 1
            sv = turn["transcript_annotated"]["act_attributes"]["slot_values"]
            gold = {(s, v) for s in slots if s in sv for v in _norm_gold(s, sv[s])}
            text = turn["transcript"]
            if llm is not None:
                from nlu.parser import parse

                acts = parse(simmc_text(text[:500]), ParseContext(), backend="llm", llm=llm).actions
            else:
                r = parse_rules(simmc_text(text[:500]))
                acts = r.actions if r else []
            pred = _predict_slots(text, acts)
            if track:
                pred = simmc_track(state, text, pred)
            tp += len(pred & gold)
            fp += len(pred - gold)
            fn += len(gold - pred)
            for s in slots:
                g = {x for x in gold if x[0] == s}
                p = {x for x in pred if x[0] == s}
                per[s][0] += len(p & g)
                per[s][1] += len(p - g)
                per[s][2] += len(g - p)

    def f1(t: int, f_p: int, f_n: int) -> float:
        return round(2 * t / max(1, 2 * t + f_p + f_n), 4)

    return {
        "turns": n,
        "slot_f1": f1(tp, fp, fn),
        "precision": round(tp / max(1, tp + fp), 4),
        "recall": round(tp / max(1, tp + fn), 4),
        "per_slot_f1": {s: f1(*v) for s, v in per.items()},
        "gpt2_baseline_slot_f1": GPT2_SLOT_F1,
    }


# ------------------------------------------------------------------------------------------------ speech
EN_SPOKEN = [
    "show me the blue dress in size medium",
    "turn around",
    "which size fits me",
    "take off the jacket",
    "make it longer",
    "show me a red shirt and black jeans",
    "compare medium and large",
    "hide the fit map",
    "one size up",
    "what goes with this",
    "show me the black coat in size large",
    "start over",
]
ZH_SPOKEN = ["给我看蓝色的连衣裙", "转过身来", "换成红色", "大一码"]


def _wer(ref: list[str], hyp: list[str]) -> tuple[int, int]:
    d = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, d[0] = d[0], i
        for j, h in enumerate(hyp, 1):
            cur = min(d[j] + 1, d[j - 1] + 1, prev + (r != h))
            prev, d[j] = d[j], cur
    return d[len(hyp)], len(ref)


def _words(s: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", s.lower())


def _chars(s: str) -> list[str]:
    return re.findall(r"[\u4e00-\u9fff0-9a-z]", s.lower())


def speech(quick: bool) -> dict:
    """RTF = total transcribe wall / total audio duration. English runs on tiny.en (short encoder window, the
    default), tiny.en with faster-whisper's standard 30 s window, and base, interleaved per utterance so all see
    the same machine load; Mandarin on base, short and 30 s windows."""
    from nlu.parser import parse
    from nlu.rules import parse_rules
    from nlu.voice import Transcriber, synthesize, vocabulary_prompt

    threads = int(os.environ.get("FITMIRROR_BENCH_ASR_THREADS", "2"))
    trs = {m: Transcriber(threads=threads, en_model=m) for m in ("tiny.en", "base")}
    trs["tiny.en_30s"] = Transcriber(threads=threads, en_model="tiny.en", short_window=False)
    for k, tr in trs.items():
        tr.preload(("en",))
        tr.transcribe(synthesize("hello"), "en")  # warm-up
        if k != "tiny.en":  # these two also run the Mandarin audio
            tr.transcribe(synthesize("你好", "zh"), "zh")
    res: dict[str, Any] = {"asr_threads": threads, "load_s": {m: round(t.load_s, 2) for m, t in trs.items()}}
    en = EN_SPOKEN[:6] if quick else EN_SPOKEN
    acc = {m: {"errs": 0, "words": 0, "wall": 0.0, "audio": 0.0, "rtfs": [], "ok": 0, "rows": []} for m in trs}
    for text in en:
        audio = synthesize(text)
        gold = parse_rules(text)
        for m, tr in trs.items():
            t = tr.transcribe(audio, "en", vocabulary_prompt("en"))
            a = acc[m]
            e, n = _wer(_words(text), _words(t.text))
            a["errs"], a["words"] = a["errs"] + e, a["words"] + n
            a["wall"], a["audio"] = a["wall"] + t.latency_ms / 1000, a["audio"] + t.audio_s
            a["rtfs"].append(t.rtf)
            got = parse(t.text or "-", backend="rules") if t.text else None
            a["ok"] += bool(gold and got and key_view(got.actions) == key_view(gold.actions))
            a["rows"].append({"ref": text, "hyp": t.text, "rtf": round(t.rtf, 3)})
    for m, a in acc.items():
        res[f"en_{m}"] = {
            "n": len(en),
            "wer": round(a["errs"] / max(1, a["words"]), 4),
            "actions_exact_from_speech": round(a["ok"] / max(1, len(en)), 4),
            "rtf": round(a["wall"] / max(a["audio"], 1e-6), 3),
            "rtf_p50": round(statistics.median(a["rtfs"]), 3),
            "samples": [r for r in a["rows"] if r["hyp"].lower().strip(".?!") != r["ref"]][:6],
        }
    res["en"] = res["en_tiny.en"]  # the default English model and window
    zh = ZH_SPOKEN[:2] if quick else ZH_SPOKEN
    zacc = {k: {"cerr": 0, "chars": 0, "wall": 0.0, "dur": 0.0, "rows": []} for k in ("base", "tiny.en_30s")}
    for text in zh:
        audio = synthesize(text, "zh")
        for k, z in zacc.items():  # "tiny.en_30s" is the 30 s-window transcriber: Mandarin runs on its base
            t = trs[k].transcribe(audio, "zh", vocabulary_prompt("zh"))
            e, n = _wer(_chars(text), _chars(t.text))
            z["cerr"], z["chars"] = z["cerr"] + e, z["chars"] + n
            z["wall"], z["dur"] = z["wall"] + t.latency_ms / 1000, z["dur"] + t.audio_s
            z["rows"].append({"ref": text, "hyp": t.text})
    for k, key in (("base", "zh_espeak"), ("tiny.en_30s", "zh_espeak_30s")):
        z = zacc[k]
        res[key] = {
            "n": len(zh),
            "model": "base",
            "window": "30 s" if k != "base" else "audio + 1 s",
            "cer": round(z["cerr"] / max(1, z["chars"]), 4),
            "rtf": round(z["wall"] / max(z["dur"], 1e-6), 3),
            "note": "espeak-ng Mandarin is barely intelligible (voice cmn); this measures the test audio more than the ASR",
            "samples": z["rows"],
        }
    res["rtf_en_default"] = res["en"]["rtf"]
    return res


def kv_reuse(llm: Any, text: str = "I want something comfy for a long flight") -> dict:
    """The same call with the system prompt's KV cache kept vs dropped (llama.cpp prefix reuse)."""
    from nlu.parser import parse

    parse(text, ParseContext(), backend="llm", llm=llm)  # cache holds the system prompt + this message
    parse("show me something for the weekend please", ParseContext(), backend="llm", llm=llm)
    warm = parse(text, ParseContext(), backend="llm", llm=llm).latency_ms
    llm.llm.reset()  # forget every evaluated token
    cold = parse(text, ParseContext(), backend="llm", llm=llm).latency_ms
    return {"with_cached_system_prompt_ms": round(warm, 1), "without_cache_ms": round(cold, 1)}


# Free-form requests the rules leave to the LLM: short ones (a shopper's usual command) and long ones (a shopper
# telling their story). Each trial uses its own sentence, so no trial reuses another's cached tokens.
SHARE_SHORT = [
    "I would love something light and airy for a summer garden party",
    "something cosy I can wear on a long flight",
    "what would look smart for a job interview",
    "I need an outfit for a rainy day in the city",
]
SHARE_LONG = [
    "Hello, so my cousin's wedding is at the end of next month in a vineyard, warm in the afternoon and cooler "
    "later, and I want something elegant but not too formal, in a soft colour, not tight around the waist because "
    "of the dinner, and I want to dance in it later at night. What should I try on first?",
    "Hi there, I am starting a new office job on Monday where people dress fairly smart but not in suits, I cycle "
    "to work so it should not crease easily, and I prefer darker colours that go with my grey coat. Could you "
    "suggest something to try on that would work for the first week?",
    "Good afternoon, we are going on a beach holiday in two weeks and I have nothing that fits any more, I want "
    "something relaxed for the evenings by the sea, breathable because it will be very hot, maybe a bit colourful, "
    "and easy to pack in a small suitcase. What do you have for that?",
    "So I have a birthday party on Saturday night at a rooftop bar, the dress code says smart casual, I would like "
    "to stand out a little without looking overdressed, and it might get windy up there so something with sleeves "
    "could be good. Can you show me a few ideas please?",
]


def llm_sharing(quick: bool) -> dict:
    """One shopper's long free-form command against another's short one, through the server's LLM worker(s):
    the short command alone, and sent 0.1 s after the long one (1 worker with 2 threads: queued behind it; 2
    workers with 1 thread each: beside it). Reports the medians and how many times longer the short one took."""
    import asyncio

    from fitmirror.config import Settings
    from nlu.worker import llm_supervisor

    trials = 2 if quick else len(SHARE_SHORT)

    async def config(workers: int, threads: int) -> dict:
        pool = llm_supervisor(Settings(llm_workers=workers, llm_threads=threads))
        try:
            await pool.wait_ready()

            async def one(text: str, key: str) -> float:
                t = time.monotonic()
                await pool.call("parse", {"text": text, "ctx": {}}, key=key)
                return time.monotonic() - t

            await one("show me something nice", "warm")
            alone, behind, long_alone = [], [], []
            for i in range(trials):
                alone.append(await one(SHARE_SHORT[i] + " please", "b"))
                long_alone.append(await one(SHARE_LONG[(i + 1) % len(SHARE_LONG)], "a"))
                first = asyncio.ensure_future(one(SHARE_LONG[i], "a"))
                await asyncio.sleep(0.1)
                behind.append(await one(SHARE_SHORT[i], "b"))
                await first
            a, b = statistics.median(alone), statistics.median(behind)
            return {"workers": workers, "threads": threads, "short_alone_s": round(a, 2),
                    "long_alone_s": round(statistics.median(long_alone), 2),
                    "short_with_long_s": round(b, 2), "ratio": round(b / a, 2), "trials": trials}  # fmt: skip
        finally:
            await pool.close()

    async def both() -> dict:
        return {"one_worker": await config(1, 2), "two_workers": await config(2, 2)}

    out = asyncio.run(both())
    out["load_avg_1min"] = load_avg()[0]
    return out


# ------------------------------------------------------------------------------------------------ run
def run(quick: bool) -> dict:
    from nlu.rules import warm_up

    rows = load_set()
    warm_up()
    results: dict[str, Any] = {"set_size": len(rows), "load_avg_1min_at_start": load_avg()[0]}
    results["rules"] = exact_match(rows, "rules")
    # LLM: load once, 1 thread (beats 2 under contention), prefix KV warm-up timed
    llm_subset = [r for r in rows if "llm" in r["tags"]] + [r for r in rows if "multi" in r["tags"]][:6]
    llm_subset = llm_subset[:6] if quick else llm_subset
    try:
        from nlu.llm import LlamaCppBackend

        llm = LlamaCppBackend(n_threads=int(os.environ.get("FITMIRROR_BENCH_LLM_THREADS", "1")))
        cold = llm.warm()
        results["llm_load_s"] = round(llm.load_s, 2)
        results["llm_system_prompt_eval_s"] = round(cold, 2)
        results["llm"] = exact_match(llm_subset, "llm", llm=llm)
        results["llm"]["prompt_tokens_cached_per_call"] = llm.last_stats.get("cached_tokens_before")
        results["llm_kv_reuse"] = kv_reuse(llm)
        # auto over the whole set: the LLM only runs where the rules are unsure
        results["auto"] = exact_match(
            rows if not quick else [r for r in rows if "llm" not in r["tags"]] + llm_subset[:3], "auto", llm=llm
        )
        results["simmc_llm"] = simmc_slot_f1(limit=4 if quick else 20, llm=llm)
    except Exception as e:  # the report says what is missing; the rules numbers still stand
        results["llm"] = {"error": f"{type(e).__name__}: {e}"}
    results["simmc_rules"] = simmc_slot_f1()
    try:
        results["llm_sharing"] = llm_sharing(quick)
    except Exception as e:
        results["llm_sharing"] = {"error": f"{type(e).__name__}: {e}"}
    try:
        results["speech"] = speech(quick)
    except Exception as e:
        results["speech"] = {"error": f"{type(e).__name__}: {e}"}
    results["load_avg_1min_at_end"] = load_avg()[0]

    def g(d: dict, *ks: str) -> Any:
        for k in ks:
            if not isinstance(d, dict) or k not in d:
                return "n/a"
            d = d[k]
        return d

    md = [
        f"Labelled set: {len(rows)} utterances (en+zh). Load average at start {results['load_avg_1min_at_start']} on 2 cores"
        " (timings are pessimistic on a shared machine).",
        "",
        "| metric | value | goal |",
        "|---|---|---|",
        f"| exact match, rules path (whole set) | {g(results, 'rules', 'exact_match')} | |",
        f"| exact match, auto (rules + LLM fallback) | {g(results, 'auto', 'exact_match')} (n={g(results, 'auto', 'n')}) | >= 0.95 |",
        f"| exact match, LLM only (subset) | {g(results, 'llm', 'exact_match')} (n={g(results, 'llm', 'n')}) | |",
        f"| rules latency p50 / p95 | {g(results, 'rules', 'latency_ms_p50')} / {g(results, 'rules', 'latency_ms_p95')} ms | < 5 ms |",
        f"| LLM latency p50 (1.5B Q4_K_M, warm system prompt) | {g(results, 'llm', 'latency_ms_p50')} ms | < 2000 ms idle |",
        f"| LLM call split p50: prompt tail eval / generation | {g(results, 'llm', 'llm_split_p50', 'prompt_eval_ms')} ms "
        f"({g(results, 'llm', 'llm_split_p50', 'prompt_eval_tokens')} tokens) / {g(results, 'llm', 'llm_split_p50', 'gen_ms')} ms "
        f"({g(results, 'llm', 'llm_split_p50', 'gen_tokens')} tokens) | |",
        f"| LLM system prompt eval (cold, once) | {results.get('llm_system_prompt_eval_s', 'n/a')} s | |",
        f"| LLM call with / without cached system prompt | {g(results, 'llm_kv_reuse', 'with_cached_system_prompt_ms')} / "
        f"{g(results, 'llm_kv_reuse', 'without_cache_ms')} ms | |",
        f"| LLM sharing: a short command alone / sent 0.1 s after another shopper's long one, 1 worker x 2 threads (FITMIRROR_LLM_WORKERS=1) "
        f"| {g(results, 'llm_sharing', 'one_worker', 'short_alone_s')} / "
        f"{g(results, 'llm_sharing', 'one_worker', 'short_with_long_s')} s "
        f"(x{g(results, 'llm_sharing', 'one_worker', 'ratio')}) | < x3 |",
        f"| LLM sharing, same, 2 workers x 1 thread (the default) "
        f"| {g(results, 'llm_sharing', 'two_workers', 'short_alone_s')} / "
        f"{g(results, 'llm_sharing', 'two_workers', 'short_with_long_s')} s "
        f"(x{g(results, 'llm_sharing', 'two_workers', 'ratio')}) | < x3 |",
        f"| SIMMC 2.0 slot F1, rules ({g(results, 'simmc_rules', 'turns')} turns) | {g(results, 'simmc_rules', 'slot_f1')} | GPT-2 0.735 |",
        f"| SIMMC 2.0 slot F1, LLM ({g(results, 'simmc_llm', 'turns')} turns) | {g(results, 'simmc_llm', 'slot_f1')} | GPT-2 0.735 |",
        f"| speech RTF, English, whisper tiny.en int8 short window (default) / tiny.en 30 s window / base short, "
        f"{g(results, 'speech', 'asr_threads')} threads | {g(results, 'speech', 'en_tiny.en', 'rtf')} / "
        f"{g(results, 'speech', 'en_tiny.en_30s', 'rtf')} / {g(results, 'speech', 'en_base', 'rtf')} | < 0.3 |",
        f"| speech RTF, Mandarin, whisper base int8, short window / 30 s window | "
        f"{g(results, 'speech', 'zh_espeak', 'rtf')} / {g(results, 'speech', 'zh_espeak_30s', 'rtf')} | < 0.3 |",
        f"| English WER, espeak-ng commands, tiny.en / tiny.en 30 s / base | {g(results, 'speech', 'en_tiny.en', 'wer')} / "
        f"{g(results, 'speech', 'en_tiny.en_30s', 'wer')} / {g(results, 'speech', 'en_base', 'wer')} | |",
        f"| spoken commands parsed to gold actions, tiny.en / base | "
        f"{g(results, 'speech', 'en_tiny.en', 'actions_exact_from_speech')} / "
        f"{g(results, 'speech', 'en_base', 'actions_exact_from_speech')} | |",
        f"| Mandarin CER, espeak-ng cmn (poor test voice), short / 30 s window | {g(results, 'speech', 'zh_espeak', 'cer')} / "
        f"{g(results, 'speech', 'zh_espeak_30s', 'cer')} | |",
    ]
    return {"title": "Language and voice (nlu)", "results": results, "markdown": "\n".join(md)}


if __name__ == "__main__":
    raise SystemExit(cli(run))
