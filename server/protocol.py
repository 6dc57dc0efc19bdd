"""The control protocol: every JSON message that crosses the websocket (/ws) or the "control" data channel.

One module, validated with pydantic, so the server, the tests and docs/server.md agree. Client messages are parsed
with `parse_client_message` (raises `ProtocolError` with a stable `code`); server messages are built with the
`*Msg` models and sent as `model_dump(exclude_none=True)`.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from fitmirror import jsonsafe
from fitmirror.errors import InputError
from fitmirror.vocab import VIEWS
from fitmirror.vocab import LayoutName as Layout
from fitmirror.vocab import ViewName as View
from nlu.schema import Action as NluAction

PipelineName = Literal["preview", "echo", "avatar"]
Lang = Literal["en", "zh"]
MsgId = Annotated[str, Field(min_length=1, max_length=64)] | int

ALL_VIEWS: tuple[str, ...] = VIEWS


class ProtocolError(InputError):
    """A control message the server cannot accept; `code` goes back to the client in an error message."""

    def __init__(self, code: str, message: str, *, msg_id: str | int | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.code = code
        self.msg_id = msg_id


# --- session options (part of the offer) -----------------------------------------------------------


class SessionOptions(BaseModel):
    """What the client wants to receive. Unset fields take the server defaults (settings)."""

    model_config = ConfigDict(extra="forbid")

    views: list[View] | None = Field(None, min_length=1, max_length=5, description="Rendered views, in order.")
    layout: Layout | None = Field(None, description="mosaic | tracks | stereo | mirror")
    resolution: tuple[int, int] | None = Field(None, description="[width, height] of ONE view in pixels (even).")
    fps: int | None = Field(None, ge=1, le=60, description="Output frame rate.")
    pipeline: PipelineName = Field("preview", description="preview (built-in), echo (benchmark), avatar (3D).")
    codec: Literal["auto", "vp8", "h264"] | None = Field(None, description="Restrict the returned video codec.")
    stamp: bool = Field(False, description="Copy the input frame's latency stamp into every output frame.")
    lang: Lang = Field("en", description="Language of voice commands and replies.")

    @field_validator("views")
    @classmethod
    def _unique_views(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and len(set(v)) != len(v):
            raise ValueError("views must not repeat")
        return v

    @field_validator("resolution", mode="before")
    @classmethod
    def _parse_resolution(cls, v: Any) -> Any:
        if isinstance(v, str):
            try:
                w, h = v.lower().split("x")
                return int(w), int(h)
            except ValueError as e:
                raise ValueError("resolution must be 'WxH' or [W, H]") from e
        return v

    @field_validator("resolution")
    @classmethod
    def _check_resolution(cls, v: tuple[int, int] | None) -> tuple[int, int] | None:
        if v is None:
            return v
        w, h = v
        if not (64 <= w <= 1920 and 64 <= h <= 1920) or w % 2 or h % 2:
            raise ValueError("resolution: each side must be even and within 64..1920 px")
        return v


# --- client -> server ----------------------------------------------------------------------------


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OfferMsg(_Msg):
    type: Literal["offer"]
    sdp: str = Field(min_length=1)
    sdp_type: Literal["offer"] = "offer"
    options: SessionOptions = Field(default_factory=SessionOptions)


class CommandMsg(_Msg):
    type: Literal["command"]
    id: MsgId
    text: str = Field(min_length=1, max_length=2000)
    lang: Lang | None = None


class ActionsMsg(_Msg):
    """Structured actions (UI buttons): the command schema's typed actions (nlu/schema.py), validated here once."""

    type: Literal["actions"]
    id: MsgId
    actions: list[NluAction] = Field(min_length=1, max_length=16)


class SetMeasurementsMsg(_Msg):
    type: Literal["set_measurements"]
    id: MsgId
    height_cm: float | None = Field(None, ge=80, le=250)
    weight_kg: float | None = Field(None, ge=20, le=300)
    chest_cm: float | None = Field(None, ge=50, le=200)
    waist_cm: float | None = Field(None, ge=40, le=200)
    hips_cm: float | None = Field(None, ge=50, le=200)
    inseam_cm: float | None = Field(None, ge=40, le=120)


class PingMsg(_Msg):
    type: Literal["ping"]
    id: MsgId
    t: float | None = None


class ByeMsg(_Msg):
    type: Literal["bye"]
    id: MsgId | None = None


ClientMessage = Annotated[
    OfferMsg | CommandMsg | ActionsMsg | SetMeasurementsMsg | PingMsg | ByeMsg, Field(discriminator="type")
]
_client_adapter: TypeAdapter[Any] = TypeAdapter(ClientMessage)
CLIENT_TYPES = ("offer", "command", "actions", "set_measurements", "ping", "bye")


def parse_client_message(raw: str | bytes, max_bytes: int) -> Any:
    """Parse and validate one client message. Raises ProtocolError (bad_json, too_large, unknown_type, invalid)."""
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > max_bytes:
        raise ProtocolError("too_large", f"message of {size} bytes exceeds the limit of {max_bytes} bytes")
    try:
        obj = jsonsafe.loads(raw, "the message")
    except InputError as e:  # malformed, NaN / Infinity, nested too deeply
        raise ProtocolError("bad_json", e.message) from None
    if not isinstance(obj, dict):
        raise ProtocolError("invalid", "message must be a JSON object with a 'type' field")
    raw_id = obj.get("id")
    valid_id = (isinstance(raw_id, str) and 0 < len(raw_id) <= 64) or (
        isinstance(raw_id, int) and not isinstance(raw_id, bool)
    )
    msg_id = raw_id if valid_id else None
    if obj.get("type") not in CLIENT_TYPES:
        raise ProtocolError(
            "unknown_type",
            f"unknown message type {str(obj.get('type'))[:40]!r}",
            msg_id=msg_id,
            hint="one of: " + ", ".join(CLIENT_TYPES),
        )
    try:
        return _client_adapter.validate_python(obj)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'][1:]) or 'message'}: {err['msg']}" for err in e.errors()[:4]
        )
        raise ProtocolError("invalid", f"invalid {obj['type']} message: {problems}", msg_id=msg_id) from None


# --- server -> client ----------------------------------------------------------------------------


class AnswerMsg(_Msg):
    type: Literal["answer"] = "answer"
    sdp: str
    sdp_type: Literal["answer"] = "answer"
    session_id: str
    options: dict[str, Any]


class AckMsg(_Msg):
    type: Literal["ack"] = "ack"
    id: MsgId
    ok: bool = True
    t: float | None = Field(None, description="ping: the client's t, echoed")
    server_t: float | None = Field(None, description="ping: server wall clock, seconds")
    actions: list[dict[str, Any]] | None = Field(None, description="command: the actions applied")


class ErrorMsg(_Msg):
    type: Literal["error"] = "error"
    id: MsgId | None = None
    code: str
    message: str
    hint: str | None = None


class FitSummary(_Msg):
    status: Literal["unavailable", "ok"] = "unavailable"
    size: str | None = None
    overall: str | None = Field(None, description="e.g. 'good', 'tight at chest'")
    details: dict[str, str] | None = None


class StateMsg(_Msg):
    type: Literal["state"] = "state"
    outfit: list[dict[str, Any]]
    size: str | None
    view: View
    views: list[View]
    layout: Layout
    fit_map: bool
    fit: FitSummary
    measurements: dict[str, float]


class TranscriptMsg(_Msg):
    type: Literal["transcript"] = "transcript"
    text: str
    final: bool


class ReplyMsg(_Msg):
    type: Literal["reply"] = "reply"
    text: str
    id: MsgId | None = None


class StatsMsg(_Msg):
    type: Literal["stats"] = "stats"
    fps_in: float
    fps_out: float
    latency_ms: float | None = Field(None, description="median server processing time, receive -> output")
    drops: int
    stages_ms: dict[str, float] = Field(default_factory=dict)


class TrackingMsg(_Msg):
    type: Literal["tracking"] = "tracking"
    present: bool


def dump(msg: BaseModel) -> str:
    return msg.model_dump_json(exclude_none=True)


def error_msg(code: str, message: str, msg_id: str | int | None = None, hint: str | None = None) -> str:
    return dump(ErrorMsg(id=msg_id, code=code, message=message, hint=hint))


def now_s() -> float:
    return time.time()
