// Bilingual UI strings (English, Chinese). Elements carry data-i18n="key" (text), data-i18n-aria="key"
// (aria-label) or data-i18n-placeholder="key"; applyI18n() fills them. The language comes from ?lang=,
// then localStorage, then navigator.language, so a shared kiosk can be switched by a shopper.

export const STRINGS = {
  en: {
    "app.title": "fitmirror — virtual fitting room",
    "kiosk.title": "fitmirror mirror",
    "xr.title": "fitmirror VR fitting room",
    "lang.toggle": "中文",
    "lang.toggle.aria": "Switch language to Chinese",
    "camera.heading": "Your camera",
    "camera.asking": "Asking for camera access…",
    "camera.ok": "Camera on",
    "camera.none": "No camera found. Connect a webcam and press Retry.",
    "camera.denied": "Camera access was denied. Allow the camera in the browser's site settings, then press Retry.",
    "camera.busy": "The camera is busy in another application. Close it and press Retry.",
    "camera.insecure": "The camera needs a secure page (https or localhost).",
    "camera.error": "The camera could not be started: {detail}",
    "camera.retry": "Retry",
    "video.heading": "Your try-on",
    "video.waiting": "Waiting for video…",
    "status.idle": "Not connected",
    "status.connecting": "Connecting…",
    "status.lost": "Connection lost. Reconnecting…",
    "status.connected": "Connected",
    "status.reconnecting": "Connection lost. Reconnecting in {s} s…",
    "status.full": "The fitting room is full. Trying again in {s} s…",
    "status.unreachable": "The fitmirror server cannot be reached. Trying again in {s} s…",
    "status.failed": "Connection failed: {detail}",
    "status.closed": "Session ended",
    "status.retry_now": "Retry now",
    "quality.fps": "fps",
    "quality.rtt": "round trip",
    "quality.label": "Connection quality",
    "chat.heading": "Ask the mirror",
    "chat.label": "Type a command",
    "chat.placeholder": "e.g. show me the blue dress in size M",
    "chat.send": "Send",
    "mic.hold": "Hold to talk",
    "mic.listening": "Listening… release to send",
    "mic.aria": "Push to talk: hold to speak a command",
    "mic.unavailable": "No microphone: type your command instead.",
    "transcript.label": "You said",
    "reply.label": "Mirror",
    "outfit.heading": "Your outfit",
    "outfit.empty": "Nothing on yet. Ask for a product or pick one below.",
    "outfit.color": "Colour",
    "outfit.size": "Size",
    "outfit.advice": "Size advice",
    "outfit.compare": "Compare sizes",
    "outfit.fitmap": "Show fit map",
    "outfit.products": "Products",
    "view.label": "View",
    "view.mosaic": "All views",
    "view.front": "Front",
    "view.back": "Back",
    "view.left": "Left",
    "view.right": "Right",
    "view.three_quarter": "Three-quarter",
    "kiosk.attract.title": "Step in front of the mirror",
    "kiosk.attract.body": "Try clothes on virtually. Just say what you want to wear.",
    "kiosk.privacy":
      "Privacy: the camera image is processed live and never stored. Everything is wiped when you walk away.",
    "kiosk.say": "Say for example: “show me the red dress in size M”",
    "kiosk.reset": "Start over",
    "kiosk.wiped": "Session wiped. Thank you!",
    "kiosk.listening": "Listening",
    "xr.enter": "Enter VR",
    "xr.exit": "Exit VR",
    "xr.checking": "Checking for a VR headset…",
    "xr.ready": "Headset ready. Press Enter VR.",
    "xr.unsupported": "WebXR virtual reality is not available in this browser or device.",
    "xr.fallback": "Open the desktop fitting room instead",
    "xr.emulated": "Emulated headset (IWER)",
    "xr.help": "Point at a view or product and pull the trigger. Hold the microphone button to speak.",
    "error.generic": "Something went wrong: {detail}",
  },
  zh: {
    "app.title": "fitmirror — 虚拟试衣间",
    "kiosk.title": "fitmirror 试衣镜",
    "xr.title": "fitmirror VR 试衣间",
    "lang.toggle": "English",
    "lang.toggle.aria": "切换到英文",
    "camera.heading": "您的摄像头",
    "camera.asking": "正在请求摄像头权限…",
    "camera.ok": "摄像头已开启",
    "camera.none": "未找到摄像头。请连接摄像头后点击“重试”。",
    "camera.denied": "摄像头权限被拒绝。请在浏览器的网站设置中允许使用摄像头，然后点击“重试”。",
    "camera.busy": "摄像头正被其他应用占用。请关闭该应用后点击“重试”。",
    "camera.insecure": "摄像头需要安全页面（https 或 localhost）。",
    "camera.error": "无法启动摄像头：{detail}",
    "camera.retry": "重试",
    "video.heading": "试穿效果",
    "video.waiting": "正在等待视频…",
    "status.idle": "未连接",
    "status.connecting": "正在连接…",
    "status.lost": "连接中断，正在重新连接…",
    "status.connected": "已连接",
    "status.reconnecting": "连接中断，{s} 秒后重新连接…",
    "status.full": "试衣间已满，{s} 秒后重试…",
    "status.unreachable": "无法连接 fitmirror 服务器，{s} 秒后重试…",
    "status.failed": "连接失败：{detail}",
    "status.closed": "会话已结束",
    "status.retry_now": "立即重试",
    "quality.fps": "帧/秒",
    "quality.rtt": "往返延迟",
    "quality.label": "连接质量",
    "chat.heading": "告诉试衣镜",
    "chat.label": "输入指令",
    "chat.placeholder": "例如：给我看蓝色的连衣裙，中号",
    "chat.send": "发送",
    "mic.hold": "按住说话",
    "mic.listening": "正在聆听…松开发送",
    "mic.aria": "按住说话：按住按钮说出指令",
    "mic.unavailable": "没有麦克风：请输入指令。",
    "transcript.label": "您说",
    "reply.label": "试衣镜",
    "outfit.heading": "您的搭配",
    "outfit.empty": "还没有试穿任何衣服。请说出想试的商品或在下方选择。",
    "outfit.color": "颜色",
    "outfit.size": "尺码",
    "outfit.advice": "尺码建议",
    "outfit.compare": "比较尺码",
    "outfit.fitmap": "显示合身度图",
    "outfit.products": "商品",
    "view.label": "视角",
    "view.mosaic": "全部视角",
    "view.front": "正面",
    "view.back": "背面",
    "view.left": "左侧",
    "view.right": "右侧",
    "view.three_quarter": "四分之三侧面",
    "kiosk.attract.title": "请站到镜子前",
    "kiosk.attract.body": "虚拟试穿衣服，只需说出您想穿什么。",
    "kiosk.privacy": "隐私说明：摄像头画面仅实时处理，从不保存。您离开后所有数据都会被清除。",
    "kiosk.say": "例如说：“给我看红色的连衣裙，中号”",
    "kiosk.reset": "重新开始",
    "kiosk.wiped": "会话已清除，谢谢光临！",
    "kiosk.listening": "正在聆听",
    "xr.enter": "进入 VR",
    "xr.exit": "退出 VR",
    "xr.checking": "正在检测 VR 头显…",
    "xr.ready": "头显已就绪，请点击“进入 VR”。",
    "xr.unsupported": "此浏览器或设备不支持 WebXR 虚拟现实。",
    "xr.fallback": "改用桌面版试衣间",
    "xr.emulated": "模拟头显（IWER）",
    "xr.help": "指向视角或商品并扣动扳机。按住麦克风按钮说话。",
    "error.generic": "出错了：{detail}",
  },
};

export const LANGS = Object.keys(STRINGS);
/** @type {Set<(lang: string) => void>} */
const listeners = new Set();
let current = pickInitialLang();

/**
 * The UI language: ?lang= first, then the shopper's saved choice, then the browser's first language.
 * @param {string | null | undefined} query  the ?lang= parameter
 * @param {string | null | undefined} saved  localStorage's "fitmirror.lang"
 * @param {string} [browser]  navigator.languages[0] or navigator.language
 * @returns {string} a code of LANGS
 */
export function chooseLang(query, saved, browser = "en") {
  if (query && STRINGS[query]) return query;
  if (saved && STRINGS[saved]) return saved;
  return browser.toLowerCase().startsWith("zh") ? "zh" : "en";
}

function pickInitialLang() {
  if (typeof location === "undefined") return "en"; // not a page (node --test): English until setLang
  let saved = null;
  try {
    saved = localStorage.getItem("fitmirror.lang");
  } catch {
    /* storage disabled: fall through */
  }
  const nav = (navigator.languages && navigator.languages[0]) || navigator.language || "en";
  return chooseLang(new URLSearchParams(location.search).get("lang"), saved, nav);
}

/** Current UI language code ("en" or "zh"). */
export function lang() {
  return current;
}

/** BCP-47 tag for speech recognition and the server (en-US / zh-CN). */
export function speechLang() {
  return current === "zh" ? "zh" : "en";
}

/** Translate a key, filling {name} placeholders. Unknown keys come back as the key so gaps are visible.
 * @param {string} key
 * @param {Record<string, unknown>} [vars] */
export function t(key, vars = {}) {
  const s = (STRINGS[current] && STRINGS[current][key]) ?? STRINGS.en[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? String(vars[k]) : `{${k}}`));
}

/** Fill every data-i18n* element under root and set <html lang>.
 * @param {ParentNode} [root] */
export function applyI18n(root = document) {
  document.documentElement.lang = current === "zh" ? "zh-CN" : "en";
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(dataOf(el).i18n);
  for (const el of root.querySelectorAll("[data-i18n-aria]")) el.setAttribute("aria-label", t(dataOf(el).i18nAria));
  for (const el of root.querySelectorAll("[data-i18n-placeholder]"))
    /** @type {HTMLInputElement} */ (el).placeholder = t(dataOf(el).i18nPlaceholder);
  for (const el of root.querySelectorAll("[data-i18n-title]")) /** @type {HTMLElement} */ (el).title = t(dataOf(el).i18nTitle);
  const title = document.querySelector("title[data-i18n]");
  if (title) document.title = t(dataOf(title).i18n);
}

/** An element's data-* attributes (every element the pages translate is an HTML element).
 * @param {Element} el */
function dataOf(el) {
  return /** @type {HTMLElement} */ (el).dataset;
}

/** Switch the UI language (remembered for the next visit), re-fill the page and tell the listeners.
 * @param {string} code */
export function setLang(code) {
  if (!STRINGS[code]) return;
  current = code;
  try {
    localStorage.setItem("fitmirror.lang", code);
  } catch {
    /* ignore: storage disabled, or not a page */
  }
  if (typeof document !== "undefined") applyI18n();
  for (const fn of listeners) fn(code);
}

export function toggleLang() {
  setLang(current === "en" ? "zh" : "en");
}

/** Call fn(lang) after every language change (to re-render dynamic text). */
export function onLangChange(fn) {
  listeners.add(fn);
}
