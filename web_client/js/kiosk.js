// In-store kiosk mirror (/kiosk): full-screen AR composite (layout "mirror"), voice first, large touch
// targets, an attract screen while nobody stands in front (server "tracking" events), and an automatic
// session reset + data wipe once the shopper has been gone for reset_after seconds.
//
// Query parameters: ?reset_after=15 (seconds of absence before the wipe), ?attract_after=3 (seconds of
// absence before the attract screen), plus the common ones (pipeline, layout, signalling, lang).

import { bindPageCommands } from "./commands.js";
import { applyI18n, onLangChange, speechLang, t, toggleLang } from "./i18n.js";
import { openCamera, setMic } from "./media.js";
import { CHART_SIZES, COLORS, VIEWS, openPageConnection, pageParams, swatchColor } from "./ui.js";

const $ = (/** @type {string} */ id) => document.getElementById(id);
/** The mirror's video (the returned try-on). */
const remote = /** @type {HTMLVideoElement} */ ($("remote"));
const params = pageParams();
const q = new URLSearchParams(location.search);
const RESET_AFTER_S = Number(q.get("reset_after") || 15);
const ATTRACT_AFTER_S = Math.min(Number(q.get("attract_after") || 3), RESET_AFTER_S);

const app = {
  conn: null,
  stream: null,
  state: null,
  present: false,
  wipes: 0,
  trackingEvents: 0,
  trackedPresent: null, // the server's last word on whether someone is in front of the mirror
  videoShownAt: null,
  startedAt: performance.now(),
  sessionStartedAt: null,
};
window.fitmirror = app;

let absentTimers = [];

applyI18n();
$("lang").addEventListener("click", () => {
  toggleLang();
  if (app.conn) app.conn.options.lang = speechLang(); // the next session uses it; the current keeps its own
});

// --- presence: attract screen, microphone, wipe ----------------------------------------------------------

function setPresent(present) {
  app.present = present;
  for (const tm of absentTimers) clearTimeout(tm);
  absentTimers = [];
  if (present) {
    $("attract").hidden = true;
    setMic(app.stream, true); // voice is the main input while someone is in front of the mirror
    $("listening").hidden = !(app.stream && app.stream.getAudioTracks().length);
    return;
  }
  setMic(app.stream, false); // nobody there: send no audio
  $("listening").hidden = true;
  absentTimers.push(setTimeout(() => ($("attract").hidden = false), ATTRACT_AFTER_S * 1000));
  absentTimers.push(setTimeout(() => wipe("absent"), RESET_AFTER_S * 1000));
}

/** End the server session (it discards everything about the shopper), clear the screen, start afresh. */
function wipe(reason) {
  app.wipes += 1;
  app.lastWipe = { reason, at: performance.now() };
  if (app.conn) app.conn.close();
  app.conn = null;
  app.state = null;
  $("transcript").textContent = "";
  $("reply").textContent = "";
  /** @type {HTMLInputElement} */ ($("chat-input")).value = "";
  remote.srcObject = null;
  app.videoShownAt = null;
  renderControls();
  $("attract").hidden = false;
  setMic(app.stream, false);
  $("listening").hidden = true;
  toast(t("kiosk.wiped"));
  connect();
}

let toastTimer = 0;
/** @param {string} text */
function toast(text) {
  const el = $("toast");
  el.textContent = text;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (el.hidden = true), 2500);
}

// --- connection ------------------------------------------------------------------------------------------

function connect() {
  const conn = openPageConnection(params, app.stream, params.layout || "mirror");
  app.conn = conn;
  conn.addEventListener("track", (ev) => {
    if (ev.detail.index !== 0 || app.conn !== conn) return;
    remote.srcObject = new MediaStream([ev.detail.track]);
    remote.play().catch(() => {});
  });
  conn.addEventListener("status", (ev) => {
    if (ev.detail.state === "connected") app.sessionStartedAt = performance.now();
  });
  conn.addEventListener("state", (ev) => {
    app.state = ev.detail.msg;
    renderControls();
  });
  conn.addEventListener("tracking", (ev) => {
    app.trackingEvents += 1;
    const present = !!ev.detail.msg.present;
    app.trackedPresent = present;
    // The server reports changes only, so the first "nobody there" of a session must still arm the
    // attract/wipe timers even though the page already assumed nobody was present.
    if (app.conn === conn && (present !== app.present || (!present && absentTimers.length === 0))) {
      setPresent(present);
    }
  });
  conn.start();
}

remote.addEventListener("loadeddata", () => {
  if (remote.videoWidth > 0 && app.videoShownAt == null) app.videoShownAt = performance.now();
});

// --- touch controls --------------------------------------------------------------------------------------

// the typed-command form (#type-form, behind the keyboard button) and send(actions) for the touch controls;
// the kiosk has no push-to-talk: its microphone follows presence
const { send } = bindPageCommands({ getConn: () => app.conn, getStream: () => app.stream, formId: "type-form" });

function button(label, pressed, onClick, extra = {}) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.setAttribute("aria-pressed", String(!!pressed));
  b.addEventListener("click", onClick);
  Object.assign(b.dataset, extra);
  return b;
}

function renderControls() {
  const s = app.state || {};
  const item = (s.outfit || [])[(s.outfit || []).length - 1];
  const color = item && (item.color && (item.color.name || item.color));
  const colors = $("colors");
  colors.replaceChildren();
  for (const c of COLORS.slice(0, 8)) {
    const b = button("", c === color, () => send([{ type: "set_color", color: c }]), { color: c });
    b.className = "swatch";
    b.style.setProperty("--swatch", swatchColor(c));
    b.setAttribute("aria-label", c);
    colors.append(b);
  }
  const sizes = $("sizes");
  sizes.replaceChildren();
  for (const z of CHART_SIZES)
    sizes.append(button(z, z === s.size, () => send([{ type: "set_size", size: z }]), { size: z }));
  const views = $("views");
  views.replaceChildren();
  for (const v of VIEWS.slice(0, 4))
    views.append(button(t(`view.${v}`), v === s.view, () => send([{ type: "view", view: v }]), { view: v }));
}
renderControls();
onLangChange(renderControls);

$("reset").addEventListener("click", () => wipe("button"));
$("kbd").addEventListener("click", () => {
  const form = $("type-form");
  form.hidden = !form.hidden;
  $("kbd").setAttribute("aria-expanded", String(!form.hidden));
  if (!form.hidden) $("chat-input").focus();
});

// a tap on the attract screen also starts (for when tracking is slow to notice the shopper)
function dismissAttract() {
  if (!$("attract").hidden) {
    setPresent(true);
    // If tracking still sees nobody after a grace period, the tap was not followed by a shopper: back to
    // absent, which shows the attract screen again and eventually wipes.
    setTimeout(() => {
      if (app.trackedPresent === false && app.present) setPresent(false);
    }, 2 * ATTRACT_AFTER_S * 1000);
  }
  if (document.fullscreenEnabled && !document.fullscreenElement)
    document.documentElement.requestFullscreen().catch(() => {});
}
$("attract").addEventListener("click", dismissAttract);
$("attract").addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" || ev.key === " ") dismissAttract();
});

async function main() {
  const res = await openCamera({ audio: true });
  if (!res.stream) {
    $("cam-msg").textContent = t(res.errorKey, { detail: res.error && res.error.message });
    $("cam-msg").dataset.kind = "error";
    $("cam-msg").dataset.key = res.errorKey;
    $("cam-msg").hidden = false;
    $("attract").hidden = true;
    return;
  }
  app.stream = res.stream;
  setMic(app.stream, false);
  connect();
}
main();
