"""SDP and ICE: the ICE server list from the settings, the answer's bitrate bounds, and the checks an offer must
pass before a peer connection is made (pure text functions, tested on captured offers)."""

from __future__ import annotations

import re

from aiortc import RTCIceServer

from fitmirror.config import Settings
from fitmirror.errors import InputError
from render.layout import n_tracks


def parse_ice_servers(spec: str) -> list[RTCIceServer]:
    """'stun:host:3478,turn:user:pass@host:3478' -> RTCIceServer list."""
    servers = []
    for url in filter(None, (u.strip() for u in spec.split(","))):
        m = re.match(r"^(turns?):([^:@]+):([^@]+)@(.+)$", url)
        if m:
            servers.append(RTCIceServer(urls=f"{m[1]}:{m[4]}", username=m[2], credential=m[3]))
        else:
            servers.append(RTCIceServer(urls=url))
    return servers


def munge_answer(sdp: str, min_kbps: int, max_kbps: int) -> str:
    """Add x-google-{min,start,max}-bitrate to the video fmtp lines so browsers send the webcam fast enough
    (aiortc's REMB estimate otherwise starves the uplink; see notes/stack-webrtc.md)."""
    if not min_kbps and not max_kbps:
        return sdp
    params = []
    if min_kbps:
        params += [f"x-google-min-bitrate={min_kbps}", f"x-google-start-bitrate={min_kbps}"]
    if max_kbps:
        params.append(f"x-google-max-bitrate={max_kbps}")
    extra = ";".join(params)
    lines = sdp.split("\r\n")
    video_pts: set[str] = set()
    in_video = False
    for line in lines:
        if line.startswith("m="):
            in_video = line.startswith("m=video")
        elif in_video and line.startswith("a=rtpmap:"):
            pt, codec = line[9:].split(" ", 1)
            if codec.upper().startswith(("VP8/", "H264/")):
                video_pts.add(pt)
    out, in_video, have_fmtp = [], False, set()
    for line in lines:
        if line.startswith("a=fmtp:") and line[7:].split(" ", 1)[0] in video_pts:
            line = f"{line};{extra}"
            have_fmtp.add(line[7:].split(" ", 1)[0])
        out.append(line)
        if line.startswith("a=rtpmap:") and line[9:].split(" ", 1)[0] in video_pts:
            pt = line[9:].split(" ", 1)[0]
            if f"a=fmtp:{pt} " not in sdp:
                out.append(f"a=fmtp:{pt} {extra}")
    return "\r\n".join(out)


def check_offer(sdp: str, layout: str, n_views: int, s: Settings) -> None:
    """Cheap checks before any resources are taken (so bad offers get a 400 even when the server is full)."""
    if len(sdp.encode()) > s.max_sdp_bytes:
        raise InputError(f"SDP offer of {len(sdp)} bytes exceeds the limit of {s.max_sdp_bytes} bytes")
    if not sdp.startswith("v=0"):
        raise InputError("malformed SDP offer: it must start with 'v=0'")
    if not re.search(r"^a=fingerprint:[\w-]+ [0-9A-Fa-f:]{32,}\s*$", sdp, re.M):
        raise InputError(
            "the SDP offer has no DTLS fingerprint (a=fingerprint): media would not be encrypted",
            hint="send the offer your WebRTC stack made (browsers and aiortc include the fingerprint)",
        )
    n_video = len(re.findall(r"^m=video ", sdp, re.M))
    if not n_video:
        raise InputError("malformed SDP offer: it has no video m-line", hint="add the webcam track (sendrecv video)")
    n_out = n_tracks(layout, n_views)
    if n_video < n_out:
        raise InputError(
            f"layout '{layout}' with {n_out} views needs {n_out} video transceivers, the offer has {n_video}",
            hint="add one sendrecv transceiver for the webcam plus recvonly video transceivers for the other views",
        )
