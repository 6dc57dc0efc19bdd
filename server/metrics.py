"""Prometheus metrics for one app (own registry, so several apps in one process, as in tests, do not clash)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

STAGE_BUCKETS_S = (0.001, 0.002, 0.005, 0.01, 0.02, 0.033, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.sessions = Gauge("fitmirror_sessions_open", "Open WebRTC sessions.", registry=r)
        self.sessions_total = Counter("fitmirror_sessions_created_total", "Sessions created.", registry=r)
        self.sessions_rejected = Counter("fitmirror_sessions_rejected_total", "Offers refused.", ["reason"], registry=r)
        self.sessions_closed = Counter("fitmirror_sessions_closed_total", "Sessions closed.", ["reason"], registry=r)
        self.frames_in = Counter("fitmirror_frames_in_total", "Webcam frames received.", registry=r)
        self.frames_processed = Counter(
            "fitmirror_frames_processed_total", "Frames run through a pipeline.", registry=r
        )
        self.frames_out = Counter("fitmirror_frames_out_total", "Video frames handed to the encoder.", registry=r)
        self.frames_dropped = Counter(
            "fitmirror_frames_dropped_total", "Webcam frames skipped to stay on the newest one.", registry=r
        )
        self.frames_repeated = Counter(
            "fitmirror_frames_repeated_total", "Output frames repeated because no new image was ready.", registry=r
        )
        self.stage_latency = Histogram(
            "fitmirror_stage_latency_seconds",
            "Per-stage processing time.",
            ["stage"],
            buckets=STAGE_BUCKETS_S,
            registry=r,
        )
        self.pipeline_latency = Histogram(
            "fitmirror_pipeline_latency_seconds",
            "Frame received -> output image ready.",
            buckets=STAGE_BUCKETS_S,
            registry=r,
        )
        self.messages = Counter("fitmirror_control_messages_total", "Control messages.", ["type"], registry=r)
        self.message_errors = Counter("fitmirror_control_errors_total", "Control errors sent.", ["code"], registry=r)
        self.capacity = Gauge("fitmirror_session_capacity", "Sessions this process accepts (max_sessions).", registry=r)
        self.occupancy = Gauge(
            "fitmirror_session_occupancy", "Open sessions / capacity (0..1); the autoscaling signal.", registry=r
        )
        self.fps_in = Gauge("fitmirror_fps_in", "Webcam frames per second, summed over sessions.", registry=r)
        self.fps_out = Gauge("fitmirror_fps_out", "Output frames per second, summed over sessions.", registry=r)
        self.worker_up = Gauge(
            "fitmirror_worker_up", "1 while a worker process (llm, asr) is loaded and serving.", ["worker"], registry=r
        )
        self.worker_queued = Gauge(
            "fitmirror_worker_queued", "Calls waiting for a worker process.", ["worker"], registry=r
        )
        self.worker_restarts = Counter(
            "fitmirror_worker_restarts_total",
            "Worker process restarts by cause (crash, hang, timeout, start_failed, start_timeout).",
            ["worker", "reason"],
            registry=r,
        )

    def bind_worker(self, name: str, worker: Any) -> None:
        """A worker process's (or pool's) state as gauges, read from its live `status` at each scrape."""
        self.worker_up.labels(name).set_function(lambda: 1.0 if worker.status.state in ("ready", "busy") else 0.0)
        self.worker_queued.labels(name).set_function(lambda: float(worker.status.queued))

    def bind_sessions(self, open_sessions: Callable[[], int], capacity: int) -> None:
        self.capacity.set(capacity)
        self.occupancy.set_function(lambda: open_sessions() / max(capacity, 1))

    def bind_fps(self, fps_in: Callable[[], float], fps_out: Callable[[], float]) -> None:
        self.fps_in.set_function(fps_in)
        self.fps_out.set_function(fps_out)

    def render(self) -> bytes:
        return generate_latest(self.registry)
