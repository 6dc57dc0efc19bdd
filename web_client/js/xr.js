// WebXR page (/xr): an immersive-vr session that shows the server's side-by-side stereo stream (layout
// "stereo") on a panel 2 m in front of the viewer, the left half to the left eye and the right half to the
// right eye (WebGL2). A row of buttons under the panel (views, colours, products) is picked with the
// controller or hand ray (select); holding squeeze is push-to-talk. Without immersive-vr the page says so
// and links to the desktop page.
//
// ?emulate=1 installs the IWER emulator (served from /vendor/iwer/) before checking for WebXR: used by the
// tests and by developers without a headset.

import { listProducts } from "./catalog.js";
import { bindPageCommands, sendActions } from "./commands.js";
import { applyI18n, onLangChange, t, toggleLang } from "./i18n.js";
import { openCamera, setMic } from "./media.js";
import { COLORS, VIEWS, openPageConnection, pageParams, swatchColor } from "./ui.js";

const $ = (/** @type {string} */ id) => document.getElementById(id);
/** The stereo stream (side by side): previewed on the page, drawn on the panel in VR. */
const remote = /** @type {HTMLVideoElement} */ ($("remote"));
const params = pageParams();
const q = new URLSearchParams(location.search);
const PANEL_Z = -2.0; // metres in front of the viewer (comfortable reading distance)
const PANEL_W = 1.6;
const STRIP_GAP = 0.08;
const STRIP_H = 0.22;
const STRIP_COLORS = ["red", "blue", "black", "white"].filter((c) => COLORS.includes(c)); // four swatches fit

const app = { conn: null, stream: null, state: null, session: null, xrFrames: 0, videoShownAt: null, picks: [], rays: {} };
window.fitmirror = app;
applyI18n();
$("lang").addEventListener("click", toggleLang);

// --- small matrix helpers (column-major, as WebXR gives them) -----------------------------------------------

function mul(a, b) {
  const o = new Float32Array(16);
  for (let c = 0; c < 4; c++)
    for (let r = 0; r < 4; r++) {
      let s = 0;
      for (let k = 0; k < 4; k++) s += a[k * 4 + r] * b[c * 4 + k];
      o[c * 4 + r] = s;
    }
  return o;
}
function xform(m, v) {
  const o = [0, 0, 0, 0];
  for (let r = 0; r < 4; r++) o[r] = m[r] * v[0] + m[4 + r] * v[1] + m[8 + r] * v[2] + m[12 + r] * v[3];
  return o;
}
function trs(tx, ty, tz, sx, sy) {
  return new Float32Array([sx, 0, 0, 0, 0, sy, 0, 0, 0, 0, 1, 0, tx, ty, tz, 1]);
}

// --- buttons in VR -----------------------------------------------------------------------------------------

function vrButtons() {
  const views = VIEWS.slice(0, 4).map((v) => ({
    label: t(`view.${v}`),
    action: { type: "view", view: v },
    on: app.state && app.state.view === v,
  }));
  const colors = STRIP_COLORS.map((c) => ({
    color: c,
    label: "",
    action: { type: "set_color", color: c },
  }));
  const products = (app.products || []).slice(0, 3).map((p) => ({
    label: p.name.length > 14 ? `${p.name.slice(0, 13)}…` : p.name,
    action: { type: "select", product_id: p.id, category: p.category },
  }));
  return [...views, ...colors, ...products];
}

function drawStrip(canvas, buttons) {
  const ctx = canvas.getContext("2d");
  const n = buttons.length;
  const w = canvas.width / n;
  ctx.fillStyle = "#101217";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  buttons.forEach((b, i) => {
    ctx.fillStyle = b.color ? swatchColor(b.color) : b.on ? "#7cc4ff" : "#252b36";
    ctx.fillRect(i * w + 4, 4, w - 8, canvas.height - 8);
    ctx.fillStyle = b.on ? "#06131f" : "#f2f4f8";
    ctx.font = `${Math.round(canvas.height * 0.3)}px system-ui, "Noto Sans CJK SC", sans-serif`;
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    if (b.label) ctx.fillText(b.label, i * w + w / 2, canvas.height / 2, w - 12);
  });
}

// --- WebGL renderer ----------------------------------------------------------------------------------------

const VS = `#version 300 es
in vec2 pos; in vec2 uv; uniform mat4 mvp; uniform vec4 uvRect; out vec2 vUv;
void main() { vUv = uvRect.xy + uv * uvRect.zw; gl_Position = mvp * vec4(pos, 0.0, 1.0); }`;
const FS = `#version 300 es
precision mediump float; in vec2 vUv; uniform sampler2D tex; uniform vec4 tint; uniform float useTex; out vec4 color;
void main() { color = useTex > 0.5 ? texture(tex, vUv) * tint : tint; }`;

class Renderer {
  constructor(gl) {
    this.gl = gl;
    const sh = (type, src) => {
      const s = gl.createShader(type);
      gl.shaderSource(s, src);
      gl.compileShader(s);
      if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s));
      return s;
    };
    const p = gl.createProgram();
    gl.attachShader(p, sh(gl.VERTEX_SHADER, VS));
    gl.attachShader(p, sh(gl.FRAGMENT_SHADER, FS));
    gl.linkProgram(p);
    if (!gl.getProgramParameter(p, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(p));
    this.prog = p;
    this.loc = {};
    for (const n of ["mvp", "uvRect", "tex", "tint", "useTex"]) this.loc[n] = gl.getUniformLocation(p, n);
    // unit quad: pos in [-1,1], uv (0,0) at the top-left so video rows map top-down without flipping
    const quad = new Float32Array([-1, 1, 0, 0, -1, -1, 0, 1, 1, 1, 1, 0, 1, -1, 1, 1]);
    this.vao = gl.createVertexArray();
    gl.bindVertexArray(this.vao);
    const buf = gl.createBuffer();
    gl.bindBuffer(gl.ARRAY_BUFFER, buf);
    gl.bufferData(gl.ARRAY_BUFFER, quad, gl.STATIC_DRAW);
    const aPos = gl.getAttribLocation(p, "pos");
    const aUv = gl.getAttribLocation(p, "uv");
    gl.enableVertexAttribArray(aPos);
    gl.vertexAttribPointer(aPos, 2, gl.FLOAT, false, 16, 0);
    gl.enableVertexAttribArray(aUv);
    gl.vertexAttribPointer(aUv, 2, gl.FLOAT, false, 16, 8);
    this.lineVao = gl.createVertexArray();
    gl.bindVertexArray(this.lineVao);
    this.lineBuf = gl.createBuffer();
    gl.bindBuffer(gl.ARRAY_BUFFER, this.lineBuf);
    gl.bufferData(gl.ARRAY_BUFFER, 64, gl.DYNAMIC_DRAW);
    gl.enableVertexAttribArray(aPos);
    gl.vertexAttribPointer(aPos, 2, gl.FLOAT, false, 16, 0);
    gl.enableVertexAttribArray(aUv);
    gl.vertexAttribPointer(aUv, 2, gl.FLOAT, false, 16, 8);
    gl.bindVertexArray(null);
    this.videoTex = this.makeTex();
    this.stripTex = this.makeTex();
  }

  makeTex() {
    const gl = this.gl;
    const tex = gl.createTexture();
    gl.bindTexture(gl.TEXTURE_2D, tex);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.LINEAR);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.LINEAR);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA, 1, 1, 0, gl.RGBA, gl.UNSIGNED_BYTE, new Uint8Array([40, 40, 40, 255]));
    return tex;
  }

  upload(tex, source) {
    const gl = this.gl;
    gl.bindTexture(gl.TEXTURE_2D, tex);
    gl.pixelStorei(gl.UNPACK_FLIP_Y_WEBGL, false);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA, gl.RGBA, gl.UNSIGNED_BYTE, source);
  }

  quad(mvp, tex, uvRect, tint = [1, 1, 1, 1]) {
    const gl = this.gl;
    gl.useProgram(this.prog);
    gl.bindVertexArray(this.vao);
    gl.uniformMatrix4fv(this.loc.mvp, false, mvp);
    gl.uniform4fv(this.loc.uvRect, uvRect);
    gl.uniform4fv(this.loc.tint, tint);
    gl.uniform1f(this.loc.useTex, tex ? 1 : 0);
    gl.activeTexture(gl.TEXTURE0);
    gl.bindTexture(gl.TEXTURE_2D, tex);
    gl.uniform1i(this.loc.tex, 0);
    gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
  }

  line(vp, a, b, tint) {
    // a ray as a thin world-space line: two points transformed on the CPU (pos is vec2, so pass clip xy/w)
    const gl = this.gl;
    const pa = xform(vp, [...a, 1]);
    const pb = xform(vp, [...b, 1]);
    if (pa[3] <= 0.01 || pb[3] <= 0.01) return;
    const data = new Float32Array([pa[0] / pa[3], pa[1] / pa[3], 0, 0, pb[0] / pb[3], pb[1] / pb[3], 0, 0]);
    gl.useProgram(this.prog);
    gl.bindVertexArray(this.lineVao);
    gl.bindBuffer(gl.ARRAY_BUFFER, this.lineBuf);
    gl.bufferSubData(gl.ARRAY_BUFFER, 0, data);
    gl.uniformMatrix4fv(this.loc.mvp, false, trs(0, 0, 0, 1, 1));
    gl.uniform4fv(this.loc.uvRect, [0, 0, 1, 1]);
    gl.uniform4fv(this.loc.tint, tint);
    gl.uniform1f(this.loc.useTex, 0);
    gl.drawArrays(gl.LINES, 0, 2);
  }
}

// --- scene geometry ----------------------------------------------------------------------------------------

function panelSize() {
  const eyeAspect = remote.videoWidth && remote.videoHeight ? remote.videoWidth / 2 / remote.videoHeight : 1;
  const w = PANEL_W;
  return { w, h: w / eyeAspect };
}
function panelModel() {
  const { w, h } = panelSize();
  return trs(0, 0.05, PANEL_Z, w / 2, h / 2);
}
function stripModel() {
  const { w, h } = panelSize();
  return trs(0, 0.05 - h / 2 - STRIP_GAP - STRIP_H / 2, PANEL_Z, w / 2, STRIP_H / 2);
}

/** Which strip button (index) a ray hits, or -1. Ray in the 'local' reference space. */
function pickButton(origin, dir) {
  if (Math.abs(dir[2]) < 1e-6) return -1;
  const s = (PANEL_Z - origin[2]) / dir[2];
  if (s <= 0) return -1;
  const x = origin[0] + s * dir[0];
  const y = origin[1] + s * dir[1];
  const m = stripModel();
  const u = (x - (m[12] - m[0])) / (2 * m[0]);
  const v = (m[13] + m[5] - y) / (2 * m[5]);
  if (u < 0 || u > 1 || v < 0 || v > 1) return -1;
  return Math.floor(u * app.buttons.length);
}
app.pickButton = pickButton;

/** Centre of strip button i in the 'local' reference space (tests aim an emulated controller at it). */
app.buttonCenter = (i) => {
  const m = stripModel();
  const n = app.buttons.length;
  return [m[12] - m[0] + (2 * m[0] * (i + 0.5)) / n, m[13], PANEL_Z];
};

// --- XR session --------------------------------------------------------------------------------------------

let renderer = null;
let refSpace = null;
let stripCanvas = null;
let probeRequests = [];

function refreshStrip() {
  if (!renderer) return;
  app.buttons = vrButtons();
  drawStrip(stripCanvas, app.buttons);
  renderer.upload(renderer.stripTex, stripCanvas);
}

async function enterVR() {
  const session = await navigator.xr.requestSession("immersive-vr", {
    requiredFeatures: ["local"],
    optionalFeatures: ["hand-tracking"],
  });
  app.session = session;
  const canvas = /** @type {HTMLCanvasElement} */ ($("xr-canvas"));
  canvas.hidden = false; // emulators (IWER) show it full-window; headsets ignore it
  const gl = canvas.getContext("webgl2", { xrCompatible: true, antialias: false, preserveDrawingBuffer: false });
  if (!gl) throw new Error("WebGL2 is not available");
  await gl.makeXRCompatible();
  session.updateRenderState({ baseLayer: new XRWebGLLayer(session, gl), depthNear: 0.05, depthFar: 50 });
  refSpace = await session.requestReferenceSpace("local");
  renderer = new Renderer(gl);
  stripCanvas = document.createElement("canvas");
  stripCanvas.width = 1100;
  stripCanvas.height = 110;
  refreshStrip();
  session.addEventListener("select", (ev) => onSelect(ev));
  session.addEventListener("squeezestart", () => setMic(app.stream, true));
  session.addEventListener("squeezeend", () => setMic(app.stream, false));
  session.addEventListener("end", () => {
    app.session = null;
    $("xr-canvas").hidden = true;
    $("enter").textContent = t("xr.enter");
    setMic(app.stream, false);
  });
  $("enter").textContent = t("xr.exit");
  session.requestAnimationFrame(onXRFrame);
}

function onSelect(ev) {
  const pose = ev.frame.getPose(ev.inputSource.targetRaySpace, refSpace);
  if (!pose) return;
  const m = pose.transform.matrix;
  const origin = [m[12], m[13], m[14]];
  const dir = [-m[8], -m[9], -m[10]];
  const i = pickButton(origin, dir);
  app.picks.push({ index: i, hand: ev.inputSource.handedness });
  if (i < 0 || !app.buttons[i]) return;
  const b = app.buttons[i];
  sendActions(app.conn, [b.action], (e) => console.warn(e.message));
}

function onXRFrame(time, frame) {
  const session = frame.session;
  session.requestAnimationFrame(onXRFrame);
  const pose = frame.getViewerPose(refSpace);
  if (!pose) return;
  app.xrFrames += 1;
  const gl = renderer.gl;
  const layer = session.renderState.baseLayer;
  const video = remote;
  const haveVideo = video.readyState >= 2 && video.videoWidth > 0;
  if (haveVideo) renderer.upload(renderer.videoTex, video);
  gl.bindFramebuffer(gl.FRAMEBUFFER, layer.framebuffer);
  gl.clearColor(0.06, 0.07, 0.09, 1);
  gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
  const panel = panelModel();
  const strip = stripModel();
  const eyes = [];
  for (const view of pose.views) {
    const vp = layer.getViewport(view);
    gl.viewport(vp.x, vp.y, vp.width, vp.height);
    const viewProj = mul(view.projectionMatrix, view.transform.inverse.matrix);
    // side-by-side stereo: u in [0, 0.5] is the left eye's picture, [0.5, 1] the right eye's
    const u0 = view.eye === "right" ? 0.5 : 0;
    const uvRect = view.eye === "none" ? [0, 0, 0.5, 1] : [u0, 0, 0.5, 1];
    renderer.quad(mul(viewProj, panel), renderer.videoTex, uvRect);
    renderer.quad(mul(viewProj, strip), renderer.stripTex, [0, 0, 1, 1]);
    for (const src of session.inputSources) {
      const rp = src.targetRaySpace && frame.getPose(src.targetRaySpace, refSpace);
      if (!rp) continue;
      const m = rp.transform.matrix;
      const o = [m[12], m[13], m[14]];
      const e = [o[0] - 3 * m[8], o[1] - 3 * m[9], o[2] - 3 * m[10]];
      renderer.line(viewProj, o, e, [0.5, 0.8, 1, 1]);
      app.rays[src.handedness] = { origin: o, dir: [-m[8], -m[9], -m[10]] };
    }
    eyes.push({ eye: view.eye, vp: { x: vp.x, y: vp.y, width: vp.width, height: vp.height }, mvp: mul(viewProj, panel) });
  }
  if (probeRequests.length && haveVideo) {
    const reqs = probeRequests;
    probeRequests = [];
    const result = probe(gl, layer, eyes, video);
    for (const r of reqs) r(result);
  }
}

/**
 * Compare what each eye shows on the panel with the two halves of the current video frame, at a grid of
 * panel points (projected with that eye's matrices). Runs inside the XR frame, right after drawing.
 */
function probe(gl, layer, eyes, video) {
  const W = gl.drawingBufferWidth;
  const H = gl.drawingBufferHeight;
  const px = new Uint8Array(W * H * 4);
  gl.readPixels(0, 0, W, H, gl.RGBA, gl.UNSIGNED_BYTE, px);
  const vc = document.createElement("canvas");
  vc.width = video.videoWidth;
  vc.height = video.videoHeight;
  const ctx = vc.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(video, 0, 0);
  const vid = ctx.getImageData(0, 0, vc.width, vc.height).data;
  const vidAt = (u, v) => {
    const x = Math.min(vc.width - 1, Math.floor(u * vc.width));
    const y = Math.min(vc.height - 1, Math.floor(v * vc.height));
    const i = (y * vc.width + x) * 4;
    return [vid[i], vid[i + 1], vid[i + 2]];
  };
  const diff = (a, b) => (Math.abs(a[0] - b[0]) + Math.abs(a[1] - b[1]) + Math.abs(a[2] - b[2])) / 3;
  const out = { width: W, height: H, video: [vc.width, vc.height], eyes: [], halfDiff: 0 };
  let halfDiffSum = 0;
  let halfDiffN = 0;
  for (const e of eyes) {
    let errOwn = 0;
    let errOther = 0;
    let n = 0;
    const own = e.eye === "right" ? 0.5 : 0;
    const other = 0.5 - own;
    const samples = [];
    for (let gy = 0; gy < 24; gy++)
      for (let gx = 0; gx < 24; gx++) {
        const u = 0.06 + (0.88 * gx) / 23;
        const v = 0.06 + (0.88 * gy) / 23;
        const c = xform(e.mvp, [-1 + 2 * u, 1 - 2 * v, 0, 1]);
        const sx = e.vp.x + (c[0] / c[3] * 0.5 + 0.5) * e.vp.width;
        const sy = e.vp.y + (c[1] / c[3] * 0.5 + 0.5) * e.vp.height;
        const ix = Math.floor(sx);
        const iy = Math.floor(sy);
        if (ix < e.vp.x || iy < e.vp.y || ix >= e.vp.x + e.vp.width || iy >= e.vp.y + e.vp.height) continue;
        const i = (iy * W + ix) * 4;
        const eyePx = [px[i], px[i + 1], px[i + 2]];
        const a = vidAt(own + u * 0.5, v);
        const b = vidAt(other + u * 0.5, v);
        errOwn += diff(eyePx, a);
        errOther += diff(eyePx, b);
        halfDiffSum += diff(a, b);
        halfDiffN += 1;
        n += 1;
        if (gx === 12 && gy === 12) samples.push({ eye: eyePx, own: a, other: b });
      }
    out.eyes.push({ eye: e.eye, viewport: e.vp, n, errOwn: n ? errOwn / n : null, errOther: n ? errOther / n : null, center: samples[0] });
  }
  out.halfDiff = halfDiffN ? halfDiffSum / halfDiffN : 0;
  return out;
}

/** Test/debug hook: resolves with probe() output from the next XR frame that has video. */
app.xrProbe = () => new Promise((resolve) => probeRequests.push(resolve));

// --- connection, page UI, start-up -------------------------------------------------------------------------

function connect() {
  const conn = openPageConnection(params, app.stream, "stereo");
  app.conn = conn;
  conn.addEventListener("track", (ev) => {
    if (ev.detail.index !== 0) return;
    remote.srcObject = new MediaStream([ev.detail.track]);
    remote.play().catch(() => {});
  });
  conn.addEventListener("state", (ev) => {
    app.state = ev.detail.msg;
    refreshStrip();
  });
  conn.start();
}

remote.addEventListener("loadeddata", () => {
  if (app.videoShownAt == null) app.videoShownAt = performance.now();
});

// chat form and push-to-talk button (the headset's squeeze is push-to-talk too, see enterVR)
bindPageCommands({ getConn: () => app.conn, getStream: () => app.stream });

$("enter").addEventListener("click", async () => {
  if (app.session) {
    await app.session.end();
    return;
  }
  try {
    await enterVR();
  } catch (e) {
    console.warn(`fitmirror: could not enter VR: ${e.message}`);
    $("xr-msg").textContent = t("error.generic", { detail: e.message });
  }
});
onLangChange(() => refreshStrip());

async function installEmulator() {
  const { XRDevice, metaQuest3 } = await import("/vendor/iwer/iwer.module.js");
  const device = new XRDevice(metaQuest3, { stereoEnabled: true });
  device.installRuntime({ forceInstall: true }); // Chromium always has navigator.xr, so force IWER in
  app.xrDevice = device;
  $("emulated").hidden = false;
}

async function loadProducts() {
  try {
    const body = await listProducts(params.server, { page_size: "3" });
    app.products = (body.products || []).filter((p) => p && p.id && p.name);
    refreshStrip();
  } catch {
    /* the catalogue is optional for the VR strip */
  }
}

async function main() {
  if (q.get("emulate") === "1") await installEmulator();
  let supported = false;
  try {
    supported = !!navigator.xr && (await navigator.xr.isSessionSupported("immersive-vr"));
  } catch {
    supported = false;
  }
  app.xrSupported = supported;
  if (!supported) {
    $("xr-msg").hidden = true;
    $("fallback").hidden = false;
    /** @type {HTMLAnchorElement} */ ($("fallback-link")).href = `/${location.search.replace(/([?&])emulate=[^&]*/, "$1")}`;
    return;
  }
  $("xr-msg").textContent = t("xr.ready");
  $("controls").hidden = false;
  const res = await openCamera({ audio: true });
  if (res.stream) {
    app.stream = res.stream;
    setMic(app.stream, false);
  } else {
    $("cam-msg").textContent = t(res.errorKey, { detail: res.error && res.error.message });
    $("cam-msg").hidden = false;
  }
  connect();
  loadProducts();
  /** @type {HTMLButtonElement} */ ($("enter")).disabled = false;
}
main();
