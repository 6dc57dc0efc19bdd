// Shared rendering for the three pages: status line, connection quality, outfit panel, transcript and reply.
// Everything writes text with textContent (never innerHTML with server data).

import { cachedProduct } from "./catalog.js";
import { FitConnection } from "./connection.js";
import { speechLang, t } from "./i18n.js";
import { COLORS, SIZES, VIEWS } from "./vocab.js";

export { COLORS, VIEWS };

/**
 * The sizes from `from` to `to` (both included) in the vocabulary's order; all of them when either is unknown.
 * @param {readonly string[]} sizes
 * @param {string} from
 * @param {string} to
 * @returns {string[]}
 */
export function sizeRange(sizes, from, to) {
  const i = sizes.indexOf(from);
  const j = sizes.indexOf(to);
  return i < 0 || j < i ? [...sizes] : sizes.slice(i, j + 1);
}

/** The letter sizes the pages offer: those the size charts cover (the vocabulary also has XXS, 3XL and 4XL,
 * which a shopper can ask for by voice). */
export const CHART_SIZES = sizeRange(SIZES, "XS", "XXL");

/**
 * The sizes to compare for "Compare sizes": the current one and the next bigger (the next smaller at the top).
 * @param {string} size
 * @param {boolean} on  false: back to the current size alone
 * @param {readonly string[]} [sizes]
 * @returns {string[]}
 */
export function comparedSizes(size, on, sizes = CHART_SIZES) {
  if (!on) return [size];
  const i = sizes.indexOf(size);
  const next = sizes[Math.min(sizes.length - 1, i + 1)] || "L";
  return [size, next === size ? sizes[Math.max(0, i - 1)] : next];
}

/** @type {Record<string, string>} */
const SWATCH = {
  black: "#111111", white: "#f4f4f4", grey: "#8a8a8a", red: "#c62828", orange: "#ef6c00", yellow: "#f9d71c",
  green: "#2e7d32", blue: "#1565c0", navy: "#1a237e", purple: "#6a1b9a", pink: "#ec407a", brown: "#6d4c41",
  beige: "#d7c4a3",
};

/** Page options from the query string: ?pipeline=preview&layout=stereo&signalling=http&server=...
 * The product experience is the 3D avatar pipeline; ?pipeline=preview (webcam tiles only) is for debugging. */
export function pageParams() {
  const q = new URLSearchParams(location.search);
  return {
    pipeline: q.get("pipeline") || "avatar",
    layout: q.get("layout") || null,
    signalling: q.get("signalling") || "auto",
    server: q.get("server") || location.origin,
    resolution: q.get("resolution") || null,
    fps: q.get("fps") ? Number(q.get("fps")) : null,
  };
}

/** Drop null/undefined fields (the server's SessionOptions forbids unknown keys, and null means default). */
export function cleanOptions(o) {
  const out = {};
  for (const [k, v] of Object.entries(o)) if (v !== null && v !== undefined) out[k] = v;
  return out;
}

/** Status line + retry button driven by FitConnection "status" events. */
export function bindStatus(conn, el, retryBtn) {
  let last = { state: "idle" };
  let countdown = null;
  const render = () => {
    const d = last;
    let text;
    switch (d.state) {
      case "connecting":
        text = t(d.lost ? "status.lost" : "status.connecting");
        break;
      case "connected":
        text = t("status.connected");
        break;
      case "reconnecting":
      case "full":
      case "unreachable":
        text = t(`status.${d.state}`, { s: Math.max(0, d.left ?? d.retryInS ?? 0) });
        break;
      case "failed":
        text = t("status.failed", { detail: d.detail || "" });
        break;
      case "closed":
        text = t("status.closed");
        break;
      default:
        text = t("status.idle");
    }
    el.textContent = text;
    el.dataset.state = d.state;
    if (retryBtn) retryBtn.hidden = !["reconnecting", "full", "unreachable", "failed"].includes(d.state);
  };
  conn.addEventListener("status", (ev) => {
    last = { ...ev.detail };
    clearInterval(countdown);
    if (last.retryInS) {
      last.left = last.retryInS;
      countdown = setInterval(() => {
        last.left -= 1;
        if (last.left <= 0) clearInterval(countdown);
        render();
      }, 1000);
    }
    render();
  });
  if (retryBtn) retryBtn.addEventListener("click", () => conn.retryNow());
  return render;
}

/** fps and round-trip read-out. */
export function bindQuality(conn, el) {
  conn.addEventListener("quality", (ev) => {
    const q = ev.detail;
    const rtt = q.rttMs == null ? "–" : `${Math.round(q.rttMs)} ms`;
    const fps = q.fps == null ? "–" : q.fps.toFixed(0);
    el.textContent = `${fps} ${t("quality.fps")} · ${t("quality.rtt")} ${rtt}`;
    el.dataset.fps = q.fps == null ? "" : q.fps.toFixed(1);
    el.dataset.rtt = q.rttMs == null ? "" : q.rttMs.toFixed(1);
    if (q.fps == null) {
      delete el.dataset.level;
      return;
    }
    const good = q.fps >= 10 && (q.rttMs == null || q.rttMs < 300);
    el.dataset.level = good ? "good" : q.fps >= 3 ? "fair" : "poor";
  });
}

/** Show the server's live transcript and replies. */
export function bindSpeech(conn, transcriptEl, replyEl) {
  conn.addEventListener("transcript", (ev) => {
    transcriptEl.textContent = ev.detail.msg.text;
    transcriptEl.dataset.final = ev.detail.msg.final ? "1" : "0";
  });
  if (replyEl) conn.addEventListener("reply", (ev) => (replyEl.textContent = ev.detail.msg.text));
  conn.addEventListener("error", (ev) => {
    if (replyEl) replyEl.textContent = t("error.generic", { detail: ev.detail.msg.message || ev.detail.msg.code });
  });
}

function colorName(c) {
  return typeof c === "string" ? c : c && (c.name || c.color);
}

/** Colour and size choices of an outfit item (falls back to the full vocabularies). */
export function itemChoices(item) {
  const prod = cachedProduct(item.product_id);
  if (prod) item = { ...prod, ...item, colors: prod.colors, size_chart: prod.size_chart };
  const colors = Array.isArray(item.colors) && item.colors.length ? item.colors.map(colorName) : COLORS;
  let sizes = CHART_SIZES;
  if (Array.isArray(item.sizes) && item.sizes.length) sizes = item.sizes;
  else if (item.size_chart && typeof item.size_chart === "object") sizes = Object.keys(item.size_chart);
  return { colors: colors.filter(Boolean), sizes };
}

/** One-line description of an outfit item. */
export function itemLabel(item) {
  const prod = cachedProduct(item.product_id);
  const name = (prod && prod.name) || item.name || item.title || item.product_id || item.id || item.category || "?";
  const parts = [name];
  const color = colorName(item.color);
  if (color) parts.push(color);
  if (item.size) parts.push(item.size);
  return parts.join(" · ");
}

export function swatchColor(name) {
  return SWATCH[name] || name;
}

/** Size advice sentence from the state's fit summary. */
export function adviceText(state) {
  const fit = state.fit || {};
  if (fit.status !== "ok") return "";
  const bits = [];
  if (fit.size) bits.push(`${t("outfit.size")} ${fit.size}`);
  if (fit.overall) bits.push(fit.overall);
  if (fit.details) for (const [k, v] of Object.entries(fit.details)) bits.push(`${k}: ${v}`);
  return bits.join(" — ");
}

/** The session every page opens: page parameters -> FitConnection, with the status, quality and speech
 * read-outs every page shows bound to its #status/#retry, #quality, #transcript and #reply elements. */
export function openPageConnection(params, stream, layout) {
  const conn = new FitConnection({
    base: params.server,
    signalling: params.signalling,
    stream,
    options: cleanOptions({
      layout,
      pipeline: params.pipeline,
      resolution: params.resolution,
      fps: params.fps,
      lang: speechLang(),
    }),
  });
  const el = (id) => document.getElementById(id);
  bindStatus(conn, el("status"), el("retry"));
  bindQuality(conn, el("quality"));
  bindSpeech(conn, el("transcript"), el("reply"));
  return conn;
}
