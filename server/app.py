"""The aiohttp application: signalling (POST /offer, /ws), health and metrics, the web client, peer routes.

`create_app(settings)` is the only entry point (tests build several apps in one process); `server.cli` runs it.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import WSCloseCode, WSMsgType, web

from fitmirror import jsonsafe
from fitmirror.catalog import Product
from fitmirror.config import Settings, get_settings
from fitmirror.errors import FitmirrorError, ForbiddenOriginError, InputError, UnsupportedMediaTypeError
from server import aiortc_patches
from server import protocol as P
from server.catalog_db import CatalogDB
from server.manager import SessionManager
from server.metrics import Metrics
from server.ratelimit import TokenBucket, rate_limited_msg
from server.session import Session

log = logging.getLogger("fitmirror.server.app")

TEST_PAGE_ROOT = Path(__file__).resolve().parent / "testpage"

MANAGER = web.AppKey("manager", SessionManager)
METRICS = web.AppKey("metrics", Metrics)
SETTINGS = web.AppKey("settings", Settings)
OPEN_WS = web.AppKey("open_ws", weakref.WeakSet[web.WebSocketResponse])
STARTED = web.AppKey("started", float)
PRELOAD = web.AppKey("preload", dict)  # start-up warm-up: {"status": {name: loading|ok|failed: why}, tasks}
WS_PER_CLIENT = web.AppKey("ws_per_client", dict)  # client address -> open websockets
MAX_WS_PER_CLIENT = 8
WS_HEARTBEAT_S = 5.0  # websocket ping interval: a dead server or client is noticed within ~2 intervals


# --- web security: origins, client addresses, headers ---------------------------------------------------


def origin_allowed(request: web.Request, s: Settings) -> bool:
    """Same origin, or one of `allowed_origins`. No Origin header at all is a non-browser client (aiortc, curl),
    which has no shopper's ambient authority to abuse; `Origin: null` (sandboxed frames, files) is refused."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    o = origin.strip().rstrip("/").lower()
    if o == "null":
        return False
    if urlsplit(o).netloc == request.host.lower():  # same host and port (TLS may end at a proxy: scheme differs)
        return True
    return o in s.origins


def client_address(request: web.Request, s: Settings) -> str:
    if s.client_ip_header:
        v = request.headers.get(s.client_ip_header, "").split(",")[0].strip()
        if v:
            return v[:64]
    return request.remote or "?"


def _csp(s: Settings, test_page: bool) -> str:
    shops = ["'self'", *s.origins]
    # the developer test page (only with test_pages) has inline code and is driven by string predicates
    loose = ["'unsafe-inline'"] if test_page else []
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'", *loose, *(["'unsafe-eval'"] if test_page else [])],
        "style-src": ["'self'", *loose],
        "img-src": ["'self'", "data:", "blob:"],
        "media-src": ["'self'", "blob:", "mediastream:"],
        "connect-src": shops,
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": shops,
    }
    return "; ".join(f"{k} {' '.join(v)}" for k, v in directives.items())


PERMISSIONS_POLICY = (
    "camera=(self), microphone=(self), xr-spatial-tracking=(self), fullscreen=(self), geolocation=(), "
    "payment=(), usb=(), serial=(), bluetooth=(), hid=()"
)


async def security_headers(request: web.Request, resp: web.StreamResponse) -> None:
    """Headers for a server that shops expose to the internet (docs/operations.md, "Web security"). An
    on_response_prepare hook: a FileResponse knows its content type only when it is prepared."""
    h = resp.headers
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("Referrer-Policy", "same-origin")
    if resp.content_type == "text/html":
        s = request.app[SETTINGS]
        h.setdefault("Content-Security-Policy", _csp(s, request.path.startswith("/_test/")))
        h.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        if not s.origins:
            h.setdefault("X-Frame-Options", "SAMEORIGIN")  # older browsers; CSP frame-ancestors is the rule


def error_response(e: FitmirrorError, msg_id: Any = None) -> web.Response:
    body: dict[str, Any] = {"type": "error", **e.to_dict()}
    headers = {}
    retry_after_s = getattr(e, "retry_after_s", None)
    if retry_after_s:  # capacity (503), per-client limits (429)
        headers["Retry-After"] = str(retry_after_s)
    return web.json_response(body, status=e.http_status, headers=headers)


# --- signalling ---------------------------------------------------------------------------------------


async def post_offer(request: web.Request) -> web.Response:
    s = request.app[SETTINGS]
    if not origin_allowed(request, s):
        return error_response(ForbiddenOriginError("this origin may not open fitting-room sessions",
                                             hint="add it to FITMIRROR_ALLOWED_ORIGINS"))  # fmt: skip
    if request.content_type != "application/json":  # a form or text/plain post from another page: no preflight
        return error_response(UnsupportedMediaTypeError("the offer must be sent as application/json"))
    limit = s.max_sdp_bytes + 8192
    if request.content_length is not None and request.content_length > limit:
        return error_response(InputError(f"offer body larger than {limit} bytes", hint="the SDP is too large"))
    try:
        raw = await request.content.read(limit + 1)
        if len(raw) > limit:
            raise InputError(f"offer body larger than {limit} bytes", hint="the SDP is too large")
        body = jsonsafe.loads(raw, "the offer")
        if not isinstance(body, dict):
            raise InputError("the offer must be a JSON object {sdp, type, options}")
        offer = P.OfferMsg.model_validate(
            {
                "type": "offer",
                "sdp": body.get("sdp"),
                "sdp_type": body.get("type", "offer"),
                "options": body.get("options") or {},
            }
        )
    except FitmirrorError as e:
        return error_response(e)
    except ValueError as e:  # JSON or validation
        return error_response(InputError(f"invalid offer: {str(e)[:400]}", hint="POST {sdp, type: 'offer', options}"))
    try:
        session, answer = await request.app[MANAGER].open(offer, client_address(request, s))
    except FitmirrorError as e:
        return error_response(e)
    return web.json_response(
        {"sdp": answer, "type": "answer", "session_id": session.id, "options": _effective_options(session)}
    )


def _effective_options(session: Any) -> dict[str, Any]:
    st = session.state
    return {
        "views": list(st.views),
        "layout": st.layout,
        "resolution": list(st.view_size),
        "fps": session.fps,
        "pipeline": session.options.pipeline,
        "tracks": len(session.out_tracks),
    }


async def ws_handler(request: web.Request) -> web.StreamResponse:
    """Signalling + control over one websocket: first {"type":"offer"}, then control messages both ways."""
    s = request.app[SETTINGS]
    if not origin_allowed(request, s):  # a page on another site must not get a session (or the camera's data)
        raise web.HTTPForbidden(text="this origin may not open fitting-room sessions")
    client = client_address(request, s)
    per_client = request.app[WS_PER_CLIENT]
    if per_client.get(client, 0) >= MAX_WS_PER_CLIENT:
        raise web.HTTPTooManyRequests(text="too many open connections from this address", headers={"Retry-After": "10"})
    # heartbeat: a client whose server vanished notices within seconds, and so do we of a vanished client
    ws = web.WebSocketResponse(max_msg_size=s.max_sdp_bytes + 8192, heartbeat=WS_HEARTBEAT_S)
    await ws.prepare(request)
    per_client[client] = per_client.get(client, 0) + 1
    manager = request.app[MANAGER]
    session = None
    request.app[OPEN_WS].add(ws)  # closed on shutdown, so draining never waits on an idle socket
    closer: asyncio.Future | None = None
    bucket = TokenBucket.for_messages(s.max_messages_per_s)  # the session's limit, from the first message
    flooded = 0

    async def idle_close() -> None:
        await asyncio.sleep(s.preoffer_timeout_s)
        if session is None and not ws.closed:
            await reply(P.error_msg("idle", f"no offer within {s.preoffer_timeout_s:g} s"))
            await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"no offer")

    idle = asyncio.ensure_future(idle_close())

    async def reply(text: str) -> None:
        if not ws.closed:
            try:
                await ws.send_str(text)
            except ConnectionResetError:  # the client went away mid-reply: the loop below ends the session
                pass

    try:
        async for msg in ws:
            if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                break
            if session is not None:
                if session.closing:
                    break
                session.submit(msg.data, reply)
                continue
            # before the offer: only offer, ping and bye, under the session's own rate limit
            if not bucket.take():
                flooded += 1
                if flooded > 20:
                    break
                await reply(rate_limited_msg(s.max_messages_per_s))
                continue
            try:
                parsed = P.parse_client_message(msg.data, s.max_sdp_bytes + 8192)
            except P.ProtocolError as e:
                await reply(P.error_msg(e.code, e.message, e.msg_id, e.hint))
                continue
            if isinstance(parsed, P.PingMsg):
                await reply(P.dump(P.AckMsg(id=parsed.id, t=parsed.t, server_t=time.time())))
            elif isinstance(parsed, P.ByeMsg):
                break
            elif isinstance(parsed, P.OfferMsg):
                try:
                    session, answer = await manager.open(parsed, client)
                except FitmirrorError as e:
                    retry = getattr(e, "retry_after_s", None)
                    extra = f" (retry after {retry} s)" if retry else ""
                    await reply(P.error_msg(e.code, e.message + extra, None, e.hint))
                    if retry:
                        break
                    continue
                session.attach_channel(reply)
                closer = asyncio.ensure_future(_close_ws_with(session, ws))
                await reply(P.dump(P.AnswerMsg(sdp=answer, session_id=session.id, options=_effective_options(session))))
                await reply(P.dump(session.state.to_msg()))
            else:
                await reply(P.error_msg("no_session", "send an offer first", getattr(parsed, "id", None)))
    finally:
        idle.cancel()
        per_client[client] -= 1
        if not per_client[client]:
            del per_client[client]
        request.app[OPEN_WS].discard(ws)
        if closer is not None:
            closer.cancel()
        if session is not None:
            session.detach_channel(reply)
            if not session.closing:
                await session.close("ws_closed")
        await ws.close()
    return ws


async def _close_ws_with(session: Session, ws: web.WebSocketResponse) -> None:
    """A session that ends on the server's side (idle, ICE timeout, shutdown) also ends its websocket."""
    await session.closed.wait()
    await ws.close(code=WSCloseCode.GOING_AWAY, message=b"session closed")


# --- health and metrics -----------------------------------------------------------------------------


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "uptime_s": round(time.monotonic() - request.app[STARTED], 1)})


async def readyz(request: web.Request) -> web.Response:
    m = request.app[MANAGER]
    s = request.app[SETTINGS]
    body = {  # not ready while models still load: route shoppers elsewhere
        "ready": m.accepting and len(m.sessions) < s.max_sessions and not preload_running(request.app),
        "preload": dict(request.app[PRELOAD].get("status", {})),
        "sessions": len(m.sessions),
        "max_sessions": s.max_sessions,
        "accepting": m.accepting,
        "workers": m.workers(),  # LLM and speech processes: state, pid, restarts, last exit
        "patches": {k: str(v) for k, v in aiortc_patches.applied.items()},
    }
    return web.json_response(body, status=200 if body["ready"] else 503)


async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=request.app[METRICS].render(), content_type="text/plain", charset="utf-8")


# --- static files -----------------------------------------------------------------------------------


def _safe_file(root: Path, rel: str) -> Path | None:
    """A regular file under root (no traversal, no dotfiles, no directory listing, nothing of node_modules)."""
    parts = Path(rel).parts
    if any(part.startswith(".") or len(part) > 255 for part in parts) or len(rel) > 1024:
        return None
    try:
        path = (root / rel).resolve()
        inside = path.relative_to(root.resolve())
        if "node_modules" in inside.parts:  # npm packages are build inputs; the pages get them through /vendor
            return None
        if path.is_dir():
            path = path / "index.html"
        return path if path.is_file() else None
    except (ValueError, OSError):  # outside root, a name too long for the filesystem, ...
        return None


def _static_handler(root: Path, prefix_pages: dict[str, str] | None = None):
    async def handler(request: web.Request) -> web.StreamResponse:
        rel = request.match_info.get("path", "")
        if prefix_pages and rel.rstrip("/") in prefix_pages:
            for cand in prefix_pages[rel.rstrip("/")].split("|"):
                if (f := _safe_file(root, cand)) is not None:
                    return web.FileResponse(f, headers={"Cache-Control": "no-cache"})
            raise web.HTTPNotFound(text=f"{request.path} is not built yet")
        f = _safe_file(root, rel)
        if f is None:
            raise web.HTTPNotFound()
        return web.FileResponse(f, headers={"Cache-Control": "no-cache"})

    return handler


PAGES = {"": "index.html", "kiosk": "kiosk.html|kiosk/index.html", "xr": "xr.html|xr/index.html"}


# --- factory -----------------------------------------------------------------------------------------


def _add_peer_routes(app: web.Application) -> None:
    """The catalogue and size-advice APIs. They are part of the server: one that fails to load stops the start
    with its reason (it used to be logged and skipped, so the server ran without them)."""
    from server import catalog_api, size_api

    catalog_api.add_routes(app, app[MANAGER].catalog_db)
    size_api.add_routes(app)


def preload_pipelines(names: list[str], predrape: list[Product] | None = None) -> dict[str, Any]:
    """Build and close each pipeline once (blocking): imports and model files are loaded, so a session's own
    build takes a fraction of a second; the avatar pipeline also pre-drapes the `predrape` products
    (avatar.stages.predrape_catalogue). Returns seconds per pipeline (and the pre-drape's counts)."""
    from server.pipeline import build_pipeline, predrape_products

    took: dict[str, Any] = {}
    for name in names:
        t0 = time.monotonic()
        pipe = build_pipeline(name)
        took[name] = round(time.monotonic() - t0, 2)
        try:
            if name == "avatar" and predrape:
                took["predrape"] = predrape_products(pipe, predrape)
        finally:
            pipe.close()
    return took


def create_app(settings: Settings | None = None, *, peer_routes: bool = True, preload: bool = False) -> web.Application:
    """preload: build `settings.preload_pipelines` on a background thread at start-up (`fitmirror serve`)."""
    settings = settings or get_settings()
    aiortc_patches.apply_settings(settings)
    app = web.Application(client_max_size=settings.max_sdp_bytes + 64 * 1024)
    app.on_response_prepare.append(security_headers)
    metrics_ = Metrics()
    app[SETTINGS] = settings
    app[METRICS] = metrics_
    # the one catalogue of this app (opened, and seeded with the demo on first use, here): the APIs, the
    # sessions' commands and the pipelines' garments all read it
    app[MANAGER] = SessionManager(settings, metrics_, CatalogDB(settings.catalog_url))
    from server.commands import warm_up

    warm_up()  # import and compile the rules path now (~0.15 s), not on the event loop in the first command
    app[OPEN_WS] = weakref.WeakSet()
    app[STARTED] = time.monotonic()
    app[PRELOAD] = {}
    app[WS_PER_CLIENT] = {}
    r = app.router
    r.add_post("/offer", post_offer)
    r.add_get("/ws", ws_handler)
    r.add_get("/healthz", healthz)
    r.add_get("/readyz", readyz)
    r.add_get("/metrics", metrics)
    if peer_routes:
        _add_peer_routes(app)
    web_root = settings.web_root()
    r.add_get("/vendor/iwer/{path:.*}", _static_handler(web_root / "node_modules" / "iwer" / "build"))
    if settings.test_pages:  # a developer page: never in production unless a test setting asks for it
        r.add_get("/_test/{path:.*}", _static_handler(TEST_PAGE_ROOT))
    r.add_get("/{path:.*}", _static_handler(web_root, PAGES))

    async def on_shutdown(app: web.Application) -> None:
        await app[MANAGER].shutdown(settings.drain_timeout_s)
        open_ws: weakref.WeakSet[web.WebSocketResponse] = app[OPEN_WS]
        for ws in list(open_ws):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")
        from server.pipeline import clear_pool

        await asyncio.get_running_loop().run_in_executor(None, clear_pool)  # idle pooled pipelines: GL, MediaPipe

    app.on_shutdown.append(on_shutdown)
    names = [n.strip() for n in settings.preload_pipelines.split(",") if n.strip()] if preload else []
    if names or (preload and settings.preload_llm):
        status = app[PRELOAD].setdefault("status", {})  # what /readyz reports: loading, ok, or failed: why

        async def run(key: str, work: Awaitable[Any]) -> None:
            try:
                log.info("preloaded %s: %s", key, await work)
                status[key] = "ok"
            except Exception as e:  # a session or command reports the real error; the server still serves
                log.warning("preloading %s failed: %s", key, e)
                status[key] = f"failed: {e}"

        async def on_startup(app: web.Application) -> None:
            if names:
                status["pipelines"] = "loading"
                work = asyncio.get_running_loop().run_in_executor(
                    None,
                    preload_pipelines,
                    names,
                    app[MANAGER].catalog_index.products if settings.predrape_catalogue else None,
                )
                app[PRELOAD]["task"] = asyncio.ensure_future(run("pipelines", work))
            if settings.preload_llm:
                status["llm"] = "loading"
                # the LLM worker process loads and warms; a command that arrives meanwhile queues behind it
                app[PRELOAD]["nlu"] = asyncio.ensure_future(run("llm", app[MANAGER].preload_llm()))

        app.on_startup.append(on_startup)
    return app


def preload_running(app: web.Application) -> bool:
    """True while a start-up preload still runs on a worker thread (a native model load cannot be interrupted)."""
    return any(v == "loading" for v in app[PRELOAD].get("status", {}).values())


async def start_site(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Start serving (port 0 picks a free port); returns the runner and the bound port (tests, bench)."""
    runner = web.AppRunner(app, handle_signals=False, access_log=None)  # as serve: no per-request lines
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, bound
