// Desktop page (/): webcam preview with a clear permission flow, the returned try-on video, chat box,
// push-to-talk microphone, outfit panel, fit map, connection quality and automatic reconnect.

import { getProduct, listProducts, textureUrl } from "./catalog.js";
import { bindPageCommands } from "./commands.js";
import { applyI18n, onLangChange, t, toggleLang } from "./i18n.js";
import { openCamera, setMic } from "./media.js";
import {
  CHART_SIZES,
  VIEWS,
  adviceText,
  comparedSizes,
  itemChoices,
  itemLabel,
  openPageConnection,
  pageParams,
  swatchColor,
} from "./ui.js";

const $ = (/** @type {string} */ id) => document.getElementById(id);
/** The returned try-on video. */
const remote = /** @type {HTMLVideoElement} */ ($("remote"));
const params = pageParams();
const app = {
  conn: null,
  stream: null,
  state: null,
  states: [],
  products: [],
  fetching: new Set(),
  videoShownAt: null,
  startedAt: performance.now(),
};
window.fitmirror = app; // for tests and debugging in the console

applyI18n();
$("lang").addEventListener("click", toggleLang);
// chat form, push-to-talk (#ptt) and send(actions) for the outfit panel's controls
const { send } = bindPageCommands({ getConn: () => app.conn, getStream: () => app.stream });

// --- camera --------------------------------------------------------------------------------------------

async function startCamera() {
  $("cam-msg").textContent = t("camera.asking");
  $("cam-msg").dataset.kind = "info";
  $("cam-retry").hidden = true;
  const res = await openCamera({ audio: true });
  app.cameraError = res.errorKey;
  if (!res.stream) {
    $("cam-msg").textContent = t(res.errorKey, { detail: res.error && res.error.message });
    $("cam-msg").dataset.kind = "error";
    $("cam-msg").dataset.key = res.errorKey;
    $("cam-retry").hidden = false;
    return null;
  }
  /** @type {HTMLVideoElement} */ ($("local")).srcObject = res.stream;
  $("cam-msg").textContent = t("camera.ok");
  $("cam-msg").dataset.kind = "ok";
  $("cam-msg").dataset.key = "camera.ok";
  $("mic-msg").hidden = res.micOk;
  /** @type {HTMLButtonElement} */ ($("ptt")).disabled = !res.micOk;
  setMic(res.stream, false); // push-to-talk: silent until the button is held
  return res.stream;
}

// --- connection ----------------------------------------------------------------------------------------

function connect(stream) {
  const conn = openPageConnection(params, stream, params.layout || "mosaic");
  app.conn = conn;
  conn.addEventListener("track", (ev) => {
    if (ev.detail.index !== 0) return;
    remote.srcObject = new MediaStream([ev.detail.track]);
    remote.play().catch(() => {});
  });
  conn.addEventListener("state", (ev) => renderState(ev.detail.msg));
  conn.addEventListener("ack", (ev) => {
    const m = ev.detail.msg;
    if (m.reply) $("reply").textContent = m.reply;
  });
  conn.start();
  return conn;
}

const markShown = () => {
  if (remote.videoWidth > 0 && app.videoShownAt == null) {
    app.videoShownAt = performance.now();
    $("video-wait").hidden = true;
  }
};
remote.addEventListener("loadeddata", markShown);
remote.addEventListener("resize", markShown);
remote.addEventListener("emptied", () => {
  app.videoShownAt = null;
  $("video-wait").hidden = false;
});
// Over the video, say why there is none: "Connection lost. Reconnecting…" (the header's status, mirrored, with
// its countdown) instead of a frozen or black picture.
const statusEl = $("status");
new MutationObserver(() => {
  const wait = $("video-wait");
  if (statusEl.dataset.state === "connected") {
    if (!wait.hidden) wait.textContent = t("video.waiting");
    return;
  }
  app.videoShownAt = null;
  wait.textContent = statusEl.textContent;
  wait.hidden = false;
}).observe(statusEl, { childList: true, characterData: true, subtree: true, attributes: true });

// --- outfit panel --------------------------------------------------------------------------------------

function currentItem() {
  const outfit = (app.state && app.state.outfit) || [];
  return outfit.length ? outfit[outfit.length - 1] : null;
}

function renderState(state) {
  app.state = state;
  // outfit items may carry only a product_id: fetch the product once, then render again with its name
  for (const item of state.outfit || [])
    if (item.product_id && !app.fetching.has(item.product_id)) {
      app.fetching.add(item.product_id);
      getProduct(params.server, item.product_id).then((p) => p && app.state === state && renderState(state));
    }
  if (app.states.at(-1) !== state) app.states.push(state);
  if (app.states.length > 50) app.states.shift();
  const list = $("outfit-list");
  list.replaceChildren();
  for (const item of state.outfit || []) {
    const li = document.createElement("li");
    li.textContent = itemLabel(item);
    list.append(li);
  }
  $("outfit-empty").hidden = (state.outfit || []).length > 0;
  const item = currentItem();
  const { colors, sizes } = item ? itemChoices(item) : { colors: [], sizes: CHART_SIZES };
  renderColors(colors, item && (item.color && (item.color.name || item.color)));
  renderSizes(sizes, state.size || (item && item.size));
  $("advice").textContent = adviceText(state) || "–";
  /** @type {HTMLInputElement} */ ($("fitmap")).checked = !!state.fit_map;
  for (const b of $("views").querySelectorAll("button")) b.setAttribute("aria-pressed", String(b.dataset.view === state.view));
}

function renderColors(colors, selected) {
  const box = $("colors");
  box.replaceChildren();
  for (const c of colors) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "swatch";
    b.style.setProperty("--swatch", swatchColor(c));
    b.setAttribute("aria-label", c);
    b.title = c;
    b.dataset.color = c;
    b.setAttribute("aria-pressed", String(c === selected));
    b.addEventListener("click", () => send([{ type: "set_color", color: c }]));
    box.append(b);
  }
}

function renderSizes(sizes, selected) {
  const sel = /** @type {HTMLSelectElement} */ ($("size"));
  sel.replaceChildren();
  for (const s of sizes) {
    const o = document.createElement("option");
    o.value = s;
    o.textContent = s;
    if (s === selected) o.selected = true;
    sel.append(o);
  }
  if (!selected) sel.selectedIndex = -1;
}

$("size").addEventListener("change", (ev) => {
  const size = /** @type {HTMLSelectElement} */ (ev.target).value;
  send([{ type: "set_size", size }]);
});
$("fitmap").addEventListener("change", (ev) => {
  const on = /** @type {HTMLInputElement} */ (ev.target).checked;
  send([{ type: "fit_map", on }]);
});
$("compare").addEventListener("change", (ev) => {
  const size = (app.state && app.state.size) || "M";
  const on = /** @type {HTMLInputElement} */ (ev.target).checked;
  send([{ type: "compare_sizes", sizes: comparedSizes(size, on) }]);
});

function renderViews() {
  const box = $("views");
  box.replaceChildren();
  for (const v of VIEWS) {
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.view = v;
    b.textContent = t(`view.${v}`);
    b.setAttribute("aria-pressed", String(app.state && app.state.view === v));
    b.addEventListener("click", () => send([{ type: "view", view: v }]));
    box.append(b);
  }
}
renderViews();
onLangChange(() => {
  renderViews();
  if (app.state) renderState(app.state);
});

async function loadProducts() {
  try {
    const body = await listProducts(params.server, { page_size: "6" });
    app.products = body.products || [];
  } catch (e) {
    console.info(`fitmirror: no catalogue (${e.message})`);
    return;
  }
  const list = $("products");
  list.replaceChildren();
  for (const p of app.products) {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.className = "product";
    b.dataset.productId = p.id;
    const color = p.colors && p.colors[0] && p.colors[0].name;
    const img = document.createElement("img");
    img.src = textureUrl(params.server, p.id, color);
    img.alt = "";
    img.width = 36;
    img.height = 36;
    const name = document.createElement("span");
    name.textContent = p.name;
    const price = document.createElement("span");
    price.className = "price";
    price.textContent = `${p.price} ${p.currency || ""}`.trim();
    b.append(img, name, price);
    b.addEventListener("click", () => send([{ type: "select", product_id: p.id, category: p.category, color }]));
    li.append(b);
    list.append(li);
  }
}

// --- start ---------------------------------------------------------------------------------------------

async function main() {
  app.stream = await startCamera();
  // the try-on needs the camera: without it the page shows why and waits for Retry instead of connecting
  loadProducts();
  if (app.stream) connect(app.stream);
}
$("cam-retry").addEventListener("click", async () => {
  const stream = await startCamera();
  if (stream) {
    app.stream = stream;
    if (app.conn) app.conn.close();
    connect(stream);
  }
});
main();
