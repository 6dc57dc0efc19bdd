"""All sessions of one app: capacity and admission, creation, shutdown, the catalogue the sessions read, and
the shared language and speech workers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from fitmirror.catalog import CatalogIndex
from fitmirror.config import Settings
from fitmirror.errors import CapacityError, RateLimitError
from server import protocol as P
from server.sdp import check_offer
from server.session import Session
from server.state import demo_outfit_items

if TYPE_CHECKING:
    from fitmirror.worker import Supervisor, WorkerPool
    from server.catalog_db import CatalogDB
    from server.commands import CommandResult
    from server.metrics import Metrics
    from server.state import SessionState
    from server.voice import VoiceEngine


def catalog_index(db: CatalogDB) -> CatalogIndex:
    """The shop's catalogue as an in-memory index, read once (blocking)."""
    return CatalogIndex(db.all())


class SessionManager:
    """Owns all sessions of one app: capacity, creation, shutdown, and the shared nlu worker."""

    def __init__(self, settings: Settings, metrics: Metrics, catalog_db: CatalogDB) -> None:
        self.settings = settings
        self.metrics = metrics
        self.catalog_db = catalog_db
        self.sessions: dict[str, Session] = {}
        # resolved once at start-up: a bad setting fails here, and the catalogue import stays off the event loop
        self.demo_outfit = demo_outfit_items(settings.demo_outfit)
        self.catalog_index = catalog_index(
            catalog_db
        )  # what commands are checked against (refresh_catalog after edits)
        self.accepting = True
        self._nlu_pool: ThreadPoolExecutor | None = None
        self._voice: VoiceEngine | None = None
        self._llm: Supervisor | WorkerPool | None = None  # see llm_worker()
        self._asr: Supervisor | None = None
        metrics.bind_sessions(lambda: len(self.sessions), settings.max_sessions)
        metrics.bind_fps(
            lambda: sum(s.fps_in.rate() for s in list(self.sessions.values())),
            lambda: sum(s.fps_out.rate() for s in list(self.sessions.values())),
        )

    def reserve(self, options: P.SessionOptions, client: str = "") -> Session:
        """Create a session object and take its slot synchronously (so concurrent offers cannot overbook).

        Offers whose ICE never completes cannot squat the server: at most `connecting_limit` sessions may be
        connecting at once, one client address at most `max_connecting_per_client` of them and
        `max_sessions_per_client` sessions in all, and each has `ice_timeout_s` to connect."""
        s = self.settings
        if not self.accepting:
            self.metrics.sessions_rejected.labels("shutting_down").inc()
            raise CapacityError("the server is shutting down", retry_after_s=5, hint="reconnect in a few seconds")
        mine = [x for x in self.sessions.values() if x.client == client]
        if len(mine) >= s.max_sessions_per_client or (
            sum(not x.connected for x in mine) >= s.max_connecting_per_client
        ):
            self.metrics.sessions_rejected.labels("per_client").inc()
            raise RateLimitError(
                f"this address already holds {len(mine)} fitting-room session(s)", retry_after_s=int(s.ice_timeout_s),
                hint="close the other session (tab) first",
            )  # fmt: skip
        if sum(not x.connected for x in self.sessions.values()) >= s.connecting_limit:
            self.metrics.sessions_rejected.labels("connecting").inc()
            raise CapacityError(
                "too many sessions are connecting right now", retry_after_s=2, hint="retry in a couple of seconds"
            )
        if len(self.sessions) >= self.settings.max_sessions:
            self.metrics.sessions_rejected.labels("full").inc()
            raise CapacityError(
                f"all {self.settings.max_sessions} fitting-room sessions are in use",
                retry_after_s=10,
                hint="try again shortly; the server limits concurrent sessions (FITMIRROR_MAX_SESSIONS)",
            )
        session = Session(self, options)
        session.client = client
        self.sessions[session.id] = session
        self.metrics.sessions.set(len(self.sessions))
        self.metrics.sessions_total.inc()
        return session

    async def open(self, offer: P.OfferMsg, client: str = "") -> tuple[Session, str]:
        o = offer.options
        check_offer(
            offer.sdp, o.layout or self.settings.default_layout, len(o.views or self.settings.views), self.settings
        )
        session = self.reserve(offer.options, client)
        try:
            answer = await session.start(offer.sdp, offer.sdp_type)
        except BaseException:
            await session.close("bad_offer")
            raise
        return session, answer

    def refresh_catalog(self) -> None:
        """Re-read the catalogue (blocking: call from an executor) after products were added or removed; open
        sessions check their next commands against it."""
        self.catalog_index = catalog_index(self.catalog_db)
        for s in self.sessions.values():
            s.state.catalog = self.catalog_index

    def release(self, session: Session, reason: str) -> None:
        if self.sessions.pop(session.id, None) is not None:
            self.metrics.sessions_closed.labels(reason).inc()
        self.metrics.sessions.set(len(self.sessions))

    async def run_nlu(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Language work that stays in this process (no LLM worker) runs on one shared thread."""
        if self._nlu_pool is None:
            self._nlu_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fm-nlu")
        return await asyncio.get_running_loop().run_in_executor(self._nlu_pool, fn, *args)

    def _worker_event(self, worker: str, kind: str) -> None:
        self.metrics.worker_restarts.labels(worker, kind).inc()

    def llm_worker(self) -> Supervisor | WorkerPool | None:
        """The supervised LLM process (`nlu.worker`), or None when the LLM needs none (off, HTTP endpoint, or
        llm_process=false). Created on first use; started by the preload or the first free-form command."""
        from nlu.worker import llm_supervisor, local_llm

        if not (self.settings.llm_process and local_llm(self.settings)):
            return None
        if self._llm is None:
            self._llm = llm_supervisor(self.settings, self._worker_event)
            self.metrics.bind_worker("llm", self._llm)
        return self._llm

    def asr_worker(self) -> Supervisor | None:
        """The supervised speech-recognition process, or None with asr_process=false."""
        from nlu.worker import asr_supervisor

        if not self.settings.asr_process:
            return None
        if self._asr is None:
            self._asr = asr_supervisor(self.settings, self._worker_event)
            self.metrics.bind_worker("asr", self._asr)
        return self._asr

    def workers(self) -> dict[str, Any]:
        """What /readyz reports about the worker processes."""
        return {w.config.name: w.status.to_dict() for w in (self._llm, self._asr) if w is not None}

    async def preload_llm(self) -> float:
        """Start the LLM (worker) and evaluate its system prompt; returns seconds (0 with the LLM off)."""
        worker = self.llm_worker()
        if worker is not None:
            return round(await worker.wait_ready(), 2)
        from server.commands import preload_llm_in_process

        return await self.run_nlu(preload_llm_in_process)

    async def parse_command(self, text: str, lang: str, state: SessionState, key: str) -> CommandResult:
        """A command the rules could not settle: the LLM worker (crash-isolated, fair across sessions by `key`),
        or the in-process parser when there is no worker."""
        from server.commands import CommandResult, llm_context, parse_command

        worker = self.llm_worker()
        if worker is None:
            return await self.run_nlu(parse_command, text, lang, state)
        ctx = llm_context(lang, state)
        result, _ = await worker.call("parse", {"text": text, "ctx": ctx}, key=key)
        return CommandResult(result["actions"], result["reply"], result["backend_used"], result.get("lang", lang))

    def voice_engine(self) -> VoiceEngine:
        if self._voice is None:
            from server.voice import VoiceEngine

            self._voice = VoiceEngine(self.asr_worker())
        return self._voice

    async def shutdown(self, drain_s: float) -> None:
        """Stop accepting, ask clients to leave, wait up to drain_s, then close what is left."""
        self.accepting = False
        sessions = list(self.sessions.values())
        for s in sessions:
            await s.broadcast(P.error_msg("shutting_down", "the server is shutting down", hint="reconnect later"))
        waits = [asyncio.ensure_future(s.closed.wait()) for s in sessions]
        if waits:
            await asyncio.wait(waits, timeout=drain_s)
            for w in waits:
                w.cancel()
        await asyncio.gather(*(s.close("shutdown") for s in list(self.sessions.values())), return_exceptions=True)
        if self._nlu_pool is not None:
            self._nlu_pool.shutdown(wait=False, cancel_futures=True)
            self._nlu_pool = None
        if self._voice is not None:
            self._voice.close()
            self._voice = None
        for worker in (self._llm, self._asr):
            if worker is not None:
                await worker.close()
        self._llm = self._asr = None
