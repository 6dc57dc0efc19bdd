// Shared connection to the fitmirror server, used by the desktop, kiosk and XR pages.
//
// Signalling: a websocket on /ws (offer -> answer, then the socket stays open as a control channel), with
// POST /offer as the fallback when the socket cannot be opened. Media: the webcam goes up as a video track,
// the microphone as an audio track (the server transcribes it), the rendered try-on comes back as one or
// more video tracks. Control: JSON messages over the "control" data channel (or the websocket until the data
// channel opens). The connection reconnects with exponential backoff after a network drop, waits out a
// full server (503 + Retry-After) and reports round trip (ping) and received fps once a second.
//
// Events (CustomEvent, detail in brackets):
//   status  {state: idle|connecting|connected|reconnecting|full|unreachable|failed|closed, retryInS, detail}
//   track   {track, streams, index}         a returned video track (index = order of arrival)
//   message {msg}                           every JSON message from the server
//   state | transcript | reply | tracking | ack | error | stats   {msg} for that message type
//   quality {fps, rttMs, kbpsIn, kbpsOut, width, height}

/**
 * A JSON control message from the server ({type: "state", ...}, {type: "ack", id, reply}, ...).
 * @typedef {{type?: string, id?: string, [key: string]: any}} Message
 */
/**
 * A structured action for the server, e.g. {type: "set_size", size: "M"} (server/protocol.py).
 * @typedef {{type: string, [key: string]: unknown}} Action
 */
/**
 * @typedef {object} StatusDetail
 * @property {"idle"|"connecting"|"connected"|"reconnecting"|"full"|"unreachable"|"failed"|"closed"} state
 * @property {number} [retryInS]  seconds until the next try
 * @property {string} [detail]  why (an error's message)
 * @property {number} [attempt]
 * @property {boolean} [lost]  connecting again after an established session dropped
 * @property {"ws"|"http"} [via]  how the session was signalled
 */
/**
 * @typedef {object} Quality
 * @property {number|null} fps  received video frames per second
 * @property {number|null} rttMs  round trip of the last ping
 * @property {number} kbpsIn
 * @property {number} kbpsOut
 * @property {number} width
 * @property {number} height
 */
/**
 * The events of a FitConnection, by name.
 * @typedef {object} FitConnectionEventMap
 * @property {CustomEvent<StatusDetail>} status
 * @property {CustomEvent<{track: MediaStreamTrack, streams: readonly MediaStream[], index: number}>} track
 * @property {CustomEvent<Quality>} quality
 * @property {CustomEvent<{msg: Message}>} message
 * @property {CustomEvent<{msg: Message}>} state
 * @property {CustomEvent<{msg: Message}>} transcript
 * @property {CustomEvent<{msg: Message}>} reply
 * @property {CustomEvent<{msg: Message}>} tracking
 * @property {CustomEvent<{msg: Message}>} ack
 * @property {CustomEvent<{msg: Message}>} error
 * @property {CustomEvent<{msg: Message}>} stats
 */

const DEFAULT_BACKOFF = { initialMs: 500, maxMs: 15000, factor: 2 };
const ICE_GATHER_TIMEOUT_MS = 3000;
const ANSWER_TIMEOUT_MS = 15000;
const DISCONNECT_GRACE_MS = 4000;
const REQUEST_TIMEOUT_MS = 20000;

/** The server said it is full (HTTP 503 or an error message with code "server_full"). */
export class ServerFullError extends Error {
  constructor(retryAfterS) {
    super(`server full, retry after ${retryAfterS} s`);
    this.retryAfterS = retryAfterS;
  }
}

/** The server could not be reached at all (network error, refused, DNS). */
export class UnreachableError extends Error {}

/** The server answered but refused the offer (a 4xx other than 503): retrying will not help. */
export class RejectedError extends Error {}

let idCounter = 0;
/** Unique message id (for ack/error correlation). */
export function newId(prefix = "c") {
  idCounter += 1;
  return `${prefix}${Date.now().toString(36)}${idCounter}`;
}

/**
 * Raise the browser's upload bitrate: aiortc only sends REMB, which keeps Chromium's estimate (and so the
 * webcam's upload fps) very low. x-google-* fmtp parameters in the answer set the starting and minimum rate.
 */
export function mungeAnswerBitrate(sdp, { startKbps = 1200, minKbps = 600, maxKbps = 2500 } = {}) {
  const lines = sdp.split("\r\n");
  const pts = new Set();
  for (const l of lines) {
    const m = /^a=rtpmap:(\d+) (VP8|H264|VP9)\/90000/i.exec(l);
    if (m) pts.add(m[1]);
  }
  const params = `x-google-start-bitrate=${startKbps};x-google-min-bitrate=${minKbps};x-google-max-bitrate=${maxKbps}`;
  const out = [];
  const withFmtp = new Set();
  for (const l of lines) {
    const m = /^a=fmtp:(\d+) (.*)$/.exec(l);
    if (m && pts.has(m[1]) && !m[2].includes("x-google-")) {
      out.push(`a=fmtp:${m[1]} ${m[2]};${params}`);
      withFmtp.add(m[1]);
      continue;
    }
    if (m && pts.has(m[1])) withFmtp.add(m[1]);
    out.push(l);
  }
  // codecs without an fmtp line get one right after their rtpmap
  const result = [];
  for (const l of out) {
    result.push(l);
    const m = /^a=rtpmap:(\d+) /.exec(l);
    if (m && pts.has(m[1]) && !withFmtp.has(m[1])) result.push(`a=fmtp:${m[1]} ${params}`);
  }
  return result.join("\r\n");
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

function waitIceGathering(pc, timeoutMs) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      pc.removeEventListener("icegatheringstatechange", check);
      clearTimeout(timer);
      resolve();
    };
    const check = () => pc.iceGatheringState === "complete" && done();
    const timer = setTimeout(done, timeoutMs);
    pc.addEventListener("icegatheringstatechange", check);
  });
}

export class FitConnection extends EventTarget {
  /**
   * @param {object} cfg
   * @param {object} cfg.options  server SessionOptions: {views, layout, resolution, fps, pipeline, codec, lang}
   * @param {MediaStream|null} cfg.stream  local webcam (+ microphone) stream; null = receive only
   * @param {string} [cfg.base]  server origin, default this page's
   * @param {"auto"|"ws"|"http"} [cfg.signalling]  auto = websocket, POST /offer if the socket fails
   * @param {number} [cfg.extraVideoTracks]  extra recvonly video transceivers (layout "tracks")
   * @param {object} [cfg.backoff]  {initialMs, maxMs, factor}
   * @param {number} [cfg.pingIntervalMs]  how often to measure the round trip (default 2000)
   * @param {number} [cfg.silentDropMs]  silence after which the server counts as gone (default 4000)
   */
  constructor(cfg) {
    super();
    this.options = { ...(cfg.options || {}) };
    this.stream = cfg.stream || null;
    this.base = (cfg.base || location.origin).replace(/\/$/, "");
    this.signalling = cfg.signalling || "auto";
    this.extraVideoTracks = cfg.extraVideoTracks || 0;
    this.backoff = { ...DEFAULT_BACKOFF, ...(cfg.backoff || {}) };
    this.pingIntervalMs = cfg.pingIntervalMs ?? 2000;
    // The server sends stats every second and answers pings: this long without a word means it is gone (a
    // crashed server leaves the data channel open for ~30 s), so the page says so and reconnects.
    this.silentDropMs = cfg.silentDropMs ?? 4000;
    this._lastHeard = 0;
    this._lost = false;
    this.state = "idle";
    this.pc = null;
    this.ws = null;
    this.dc = null;
    this.attempt = 0;
    this.connects = 0; // sessions established so far (reconnects included)
    this.lastState = null;
    this.quality = { fps: null, rttMs: null, kbpsIn: 0, kbpsOut: 0, width: 0, height: 0 };
    this._wanted = false;
    this._pending = new Map();
    this._pings = new Map();
    this._timers = [];
    this._recent = [];
    this._prevStats = null;
    this._retryWake = null;
    this._generation = 0;
    this.signalledVia = null;
  }

  // --- public API -----------------------------------------------------------------------------------

  /**
   * EventTarget's, typed by FitConnectionEventMap (so a listener knows its event's detail).
   * @template {keyof FitConnectionEventMap} K
   * @param {K} type
   * @param {(ev: FitConnectionEventMap[K]) => void} listener
   * @param {boolean | AddEventListenerOptions} [options]
   */
  addEventListener(type, listener, options) {
    super.addEventListener(type, /** @type {EventListener} */ (listener), options);
  }

  /** Start (and keep) a session: connects, then reconnects after drops until close() is called. */
  start() {
    if (this._wanted) return;
    this._wanted = true;
    // leaving the page ends the session at once (otherwise the server notices only when ICE consent fails)
    this._onPageHide = () => this.close();
    window.addEventListener("pagehide", this._onPageHide);
    this._loop();
  }

  /** Skip the current backoff wait and retry immediately. */
  retryNow() {
    if (this._retryWake) this._retryWake();
  }

  /** End the session for good (sends "bye", closes the peer connection and socket). */
  close() {
    this._wanted = false;
    if (this._onPageHide) window.removeEventListener("pagehide", this._onPageHide);
    if (this._retryWake) this._retryWake();
    try {
      this._sendRaw({ type: "bye" });
    } catch {
      /* not connected */
    }
    this._teardown();
    this._setStatus("closed");
  }

  /** Send a message; resolves with the server's ack (or rejects with its error) matched by id. */
  request(msg, timeoutMs = REQUEST_TIMEOUT_MS) {
    const id = msg.id || newId();
    const full = { ...msg, id };
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(id);
        reject(new Error(`no answer to ${msg.type} within ${timeoutMs} ms`));
      }, timeoutMs);
      this._pending.set(id, { resolve, reject, timer });
      try {
        this._sendRaw(full);
      } catch (e) {
        clearTimeout(timer);
        this._pending.delete(id);
        reject(e);
      }
    });
  }

  /** A free-text command ("show me the blue dress in size M"). */
  command(text, lang) {
    return this.request({ type: "command", text, lang });
  }

  /** Structured actions, e.g. [{type: "set_size", size: "M"}]. */
  actions(actions) {
    return this.request({ type: "actions", actions });
  }

  /** True when control messages can be sent. */
  get canSend() {
    return (this.dc && this.dc.readyState === "open") || (this.ws && this.ws.readyState === WebSocket.OPEN);
  }

  /** Change session options (layout, views); takes effect by renegotiating a fresh session. */
  reconfigure(options) {
    this.options = { ...this.options, ...options };
    if (!this._wanted) return;
    this._teardown();
    this.attempt = 0;
    this._loop();
  }

  // --- connection loop --------------------------------------------------------------------------------

  async _loop() {
    const gen = ++this._generation;
    while (this._wanted && gen === this._generation) {
      this._setStatus("connecting", { attempt: this.attempt, lost: this._lost });
      let waitS;
      let reason;
      try {
        await this._connectOnce(gen);
        return; // connected; drops call _onDrop which restarts the loop
      } catch (e) {
        this._teardown();
        if (gen !== this._generation || !this._wanted) return;
        waitS = this._nextDelayS();
        if (e instanceof ServerFullError) {
          waitS = Math.max(e.retryAfterS || 0, 1);
          reason = "full";
        } else if (e instanceof UnreachableError) {
          reason = "unreachable";
        } else if (e instanceof RejectedError) {
          this._wanted = false;
          this._setStatus("failed", { detail: e.message });
          return;
        } else {
          reason = "reconnecting";
        }
        this.attempt += 1;
        this._setStatus(reason, { retryInS: Math.ceil(waitS), detail: e.message });
        console.info(`fitmirror: ${reason} (${e.message}); retry in ${waitS.toFixed(1)} s`);
      }
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, waitS * 1000);
        this._retryWake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this._retryWake = null;
    }
  }

  _nextDelayS() {
    const { initialMs, maxMs, factor } = this.backoff;
    const base = Math.min(maxMs, initialMs * factor ** this.attempt);
    return (base * (0.75 + Math.random() * 0.5)) / 1000; // jitter so kiosks do not reconnect in lockstep
  }

  async _connectOnce(gen) {
    const pc = new RTCPeerConnection({ iceServers: [] });
    this.pc = pc;
    const stream = this.stream;
    const video = stream && stream.getVideoTracks()[0];
    const audio = stream && stream.getAudioTracks()[0];
    if (video) {
      const tr = pc.addTransceiver(video, { direction: "sendrecv", streams: [stream] });
      try {
        const p = tr.sender.getParameters();
        p.degradationPreference = "maintain-resolution";
        await tr.sender.setParameters(p);
      } catch {
        /* optional */
      }
    } else {
      pc.addTransceiver("video", { direction: "recvonly" });
    }
    for (let i = 0; i < this.extraVideoTracks; i++) pc.addTransceiver("video", { direction: "recvonly" });
    if (audio) pc.addTransceiver(audio, { direction: "sendonly", streams: [stream] });

    let trackIndex = 0;
    pc.addEventListener("track", (ev) => {
      if (ev.track.kind !== "video") return;
      this._emit("track", { track: ev.track, streams: ev.streams, index: trackIndex++ });
    });
    const dc = pc.createDataChannel("control", { ordered: true });
    this.dc = dc;
    dc.addEventListener("message", (ev) => this._onRaw(ev.data, "dc"));
    dc.addEventListener("close", () => gen === this._generation && this._onDrop("data channel closed"));

    await pc.setLocalDescription(await pc.createOffer());
    await waitIceGathering(pc, ICE_GATHER_TIMEOUT_MS); // the server does not trickle, neither do we
    const offer = { sdp: pc.localDescription.sdp, type: pc.localDescription.type };

    let answer = null;
    if (this.signalling !== "http") {
      try {
        answer = await this._signalWs(offer, gen);
        this.signalledVia = "ws";
      } catch (e) {
        if (e instanceof ServerFullError || e instanceof RejectedError || this.signalling === "ws") throw e;
        console.info(`fitmirror: websocket signalling failed (${e.message}); using POST /offer`);
      }
    }
    if (!answer) {
      answer = await this._signalHttp(offer);
      this.signalledVia = "http";
    }
    if (gen !== this._generation) throw new Error("superseded");
    await pc.setRemoteDescription({ type: answer.type || "answer", sdp: mungeAnswerBitrate(answer.sdp) });

    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("media connection timed out")), ANSWER_TIMEOUT_MS);
      const check = () => {
        const s = pc.connectionState;
        if (s === "connected") {
          clearTimeout(timer);
          resolve();
        } else if (s === "failed" || s === "closed") {
          clearTimeout(timer);
          reject(new Error(`media connection ${s}`));
        }
      };
      pc.addEventListener("connectionstatechange", check);
      check();
    });
    pc.addEventListener("connectionstatechange", () => {
      if (gen !== this._generation) return;
      const s = pc.connectionState;
      if (s === "failed") this._onDrop("media connection failed");
      else if (s === "disconnected") {
        const t = setTimeout(() => {
          if (gen === this._generation && pc.connectionState === "disconnected") this._onDrop("network lost");
        }, DISCONNECT_GRACE_MS);
        this._timers.push(t);
      }
    });
    this.attempt = 0;
    this.connects += 1;
    this._lost = false;
    this._setStatus("connected", { via: this.signalledVia });
    this._startTimers(gen);
  }

  _signalWs(offer, gen) {
    const url = this.base.replace(/^http/, "ws") + "/ws";
    return new Promise((resolve, reject) => {
      let settled = false;
      let ws;
      try {
        ws = new WebSocket(url);
      } catch (e) {
        reject(new UnreachableError(e.message));
        return;
      }
      this.ws = ws;
      const fail = (err) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        try {
          ws.close();
        } catch {
          /* ignore */
        }
        if (this.ws === ws) this.ws = null;
        reject(err);
      };
      const timer = setTimeout(() => fail(new Error("no answer on the websocket")), ANSWER_TIMEOUT_MS);
      ws.addEventListener("open", () => {
        ws.send(JSON.stringify({ type: "offer", sdp: offer.sdp, sdp_type: offer.type, options: this.options }));
      });
      ws.addEventListener("error", () => fail(new UnreachableError("websocket error")));
      ws.addEventListener("close", (ev) => {
        if (!settled) {
          fail(
            ev.code === 1013
              ? new ServerFullError(5)
              : new UnreachableError(`websocket closed (${ev.code})`),
          );
          return;
        }
        // after the answer the socket is a control channel; the data channel carries on if it is open
        if (gen === this._generation && this.ws === ws) {
          this.ws = null;
          if (!(this.dc && this.dc.readyState === "open") && this._wanted) this._onDrop("control socket closed");
        }
      });
      ws.addEventListener("message", (ev) => {
        let msg;
        try {
          msg = JSON.parse(ev.data);
        } catch {
          return;
        }
        if (!settled && msg.type === "answer") {
          settled = true;
          clearTimeout(timer);
          resolve({ sdp: msg.sdp, type: msg.sdp_type || "answer" });
          return;
        }
        if (!settled && msg.type === "error") {
          const code = String(msg.code || msg.error || "");
          if (/full|busy|capacity|rate_limited|503|429/i.test(code) || /full/i.test(msg.message || "")) {
            const m = /retry after (\d+)/i.exec(msg.message || "");
            fail(new ServerFullError(Number(msg.retry_after_s ?? (m ? m[1] : 5))));
          } else fail(new RejectedError(msg.message || code || "offer rejected"));
          return;
        }
        this._onRaw(ev.data, "ws");
      });
    });
  }

  async _signalHttp(offer) {
    let res;
    try {
      res = await fetch(`${this.base}/offer`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ sdp: offer.sdp, type: offer.type, options: this.options }),
      });
    } catch (e) {
      throw new UnreachableError(e.message || "network error");
    }
    if (res.status === 503 || res.status === 429) {
      // full, draining, too many connecting, or this address holds its share: wait as told
      const ra = Number(res.headers.get("Retry-After"));
      throw new ServerFullError(Number.isFinite(ra) && ra > 0 ? ra : 5);
    }
    if (res.status === 502 || res.status === 504) throw new UnreachableError(`HTTP ${res.status}`);
    let body = null;
    try {
      body = await res.json();
    } catch {
      /* not JSON */
    }
    if (!res.ok) {
      const detail = (body && (body.message || body.error)) || `HTTP ${res.status}`;
      if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429)
        throw new RejectedError(detail);
      throw new Error(detail);
    }
    if (!body || !body.sdp) throw new Error("the server's answer has no SDP");
    return body;
  }

  _onDrop(why) {
    // only an established session can drop; failures while connecting are handled by _loop
    if (!this._wanted || this.state !== "connected") return;
    console.info(`fitmirror: connection dropped (${why})`);
    this._lost = true; // until connected again, the page says the connection was lost (not just "connecting")
    this._teardown();
    this._setStatus("reconnecting", { retryInS: 0, detail: why });
    this._loop();
  }

  _teardown() {
    for (const t of this._timers) clearInterval(t);
    this._timers = [];
    for (const [, p] of this._pending) {
      clearTimeout(p.timer);
      p.reject(new Error("connection closed"));
    }
    this._pending.clear();
    this._pings.clear();
    this._prevStats = null;
    if (this.quality.fps != null || this.quality.rttMs != null) {
      // no stale numbers while disconnected
      this.quality = { fps: null, rttMs: null, kbpsIn: 0, kbpsOut: 0, width: 0, height: 0 };
      this._emit("quality", { ...this.quality });
    }
    if (this.dc) {
      try {
        this.dc.close();
      } catch {
        /* ignore */
      }
    }
    if (this.ws) {
      try {
        this.ws.close();
      } catch {
        /* ignore */
      }
    }
    if (this.pc) {
      try {
        this.pc.close();
      } catch {
        /* ignore */
      }
    }
    this.dc = null;
    this.ws = null;
    this.pc = null;
  }

  // --- messages -------------------------------------------------------------------------------------

  _sendRaw(msg) {
    const text = JSON.stringify(msg);
    if (this.dc && this.dc.readyState === "open") this.dc.send(text);
    else if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(text);
    else throw new Error("not connected");
  }

  _onRaw(text, via) {
    // the server may mirror messages on the socket and the data channel: drop exact repeats within 2 s
    const now = performance.now();
    this._recent = this._recent.filter((r) => now - r.t < 2000);
    if (this._recent.some((r) => r.text === text && r.via !== via)) return;
    this._recent.push({ text, via, t: now });
    if (this._recent.length > 64) this._recent.shift();
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      console.warn("fitmirror: ignoring a non-JSON control message");
      return;
    }
    this._onMessage(msg);
  }

  _onMessage(msg) {
    const type = msg.type;
    this._lastHeard = performance.now();
    if (type === "pong" || (type === "ack" && this._pings.has(msg.id))) {
      const sent = this._pings.get(msg.id);
      if (sent !== undefined) {
        this._pings.delete(msg.id);
        this.quality.rttMs = performance.now() - sent;
        this._emit("quality", { ...this.quality });
      }
      return;
    }
    if ((type === "ack" || type === "error") && msg.id && this._pending.has(msg.id)) {
      const p = this._pending.get(msg.id);
      this._pending.delete(msg.id);
      clearTimeout(p.timer);
      if (type === "ack") p.resolve(msg);
      else p.reject(Object.assign(new Error(msg.message || msg.code || "error"), { msg }));
    }
    if (type === "state") this.lastState = msg;
    this._emit("message", { msg });
    if (type) this._emit(type, { msg });
  }

  _startTimers(gen) {
    const ping = setInterval(() => {
      if (gen !== this._generation || !this.canSend) return;
      const id = newId("p");
      this._pings.set(id, performance.now());
      if (this._pings.size > 10) this._pings.delete(this._pings.keys().next().value);
      try {
        this._sendRaw({ type: "ping", id, t: Date.now() });
      } catch {
        /* dropped; the next one retries */
      }
    }, this.pingIntervalMs);
    const stats = setInterval(() => gen === this._generation && this._collectStats(), 1000);
    this._lastHeard = performance.now();
    const watchdog = setInterval(() => {
      if (gen !== this._generation || this.state !== "connected") return;
      const silentMs = performance.now() - this._lastHeard;
      if (silentMs > this.silentDropMs) this._onDrop(`the server stopped answering (${(silentMs / 1000).toFixed(1)} s)`);
    }, 500);
    this._timers.push(ping, stats, watchdog);
    // first ping right away so the quality indicator fills quickly
    setTimeout(() => {
      if (gen !== this._generation || !this.canSend) return;
      const id = newId("p");
      this._pings.set(id, performance.now());
      try {
        this._sendRaw({ type: "ping", id, t: Date.now() });
      } catch {
        /* ignore */
      }
    }, 200);
  }

  async _collectStats() {
    const pc = this.pc;
    if (!pc) return;
    let report;
    try {
      report = await pc.getStats();
    } catch {
      return;
    }
    let frames = 0;
    let bytesIn = 0;
    let bytesOut = 0;
    let width = 0;
    let height = 0;
    let candRtt = null;
    report.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video") {
        frames += s.framesDecoded || 0;
        bytesIn += s.bytesReceived || 0;
        width = Math.max(width, s.frameWidth || 0);
        height = Math.max(height, s.frameHeight || 0);
      } else if (s.type === "outbound-rtp") {
        bytesOut += s.bytesSent || 0;
      } else if (s.type === "candidate-pair" && s.nominated && s.currentRoundTripTime != null) {
        candRtt = s.currentRoundTripTime * 1000;
      }
    });
    const now = performance.now();
    const prev = this._prevStats;
    this._prevStats = { now, frames, bytesIn, bytesOut };
    if (!prev) return;
    const dt = (now - prev.now) / 1000;
    if (dt <= 0) return;
    this.quality.fps = Math.max(0, (frames - prev.frames) / dt);
    this.quality.kbpsIn = Math.max(0, ((bytesIn - prev.bytesIn) * 8) / dt / 1000);
    this.quality.kbpsOut = Math.max(0, ((bytesOut - prev.bytesOut) * 8) / dt / 1000);
    this.quality.width = width;
    this.quality.height = height;
    if (this.quality.rttMs == null && candRtt != null) this.quality.rttMs = candRtt;
    this._emit("quality", { ...this.quality });
  }

  // --- helpers --------------------------------------------------------------------------------------

  _setStatus(state, extra = {}) {
    this.state = state;
    this._emit("status", { state, ...extra });
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

export { sleep };
