// Commands to the server, shared by the desktop, kiosk and XR pages: structured actions (buttons, swatches,
// pickers), typed commands (the chat form) and push-to-talk (the microphone sends sound only while the button
// is held). The functions take the elements they write to, or anything with the same properties, so the logic
// runs under `node --test` without a DOM; bindPageCommands() wires them to the pages' common element ids.

import { speechLang, t } from "./i18n.js";
import { setMic } from "./media.js";

/** @typedef {import("./connection.js").Action} Action */

/**
 * The part of FitConnection that commands use (a fake in the tests).
 * @typedef {object} CommandConnection
 * @property {boolean} canSend
 * @property {(actions: Action[]) => Promise<unknown>} actions
 * @property {(text: string, lang: string) => Promise<{reply?: string}>} command
 */

/** Somewhere to show text: an element, or a plain object in the tests. @typedef {{textContent: string | null}} TextSink */

/** The reply line's text for a request that failed. @param {Error} err */
export function errorText(err) {
  return t("error.generic", { detail: err.message });
}

/** True when conn exists and its control channel is open. @param {CommandConnection | null | undefined} conn */
export function canSend(conn) {
  return !!(conn && conn.canSend);
}

/**
 * Send structured actions, e.g. [{type: "set_size", size: "M"}], when the connection can; nothing happens
 * while it cannot (the buttons stay usable during a reconnect). A failure goes to onError.
 * @param {CommandConnection | null | undefined} conn
 * @param {Action[]} actions
 * @param {(err: Error) => void} onError
 * @returns {Promise<boolean>} whether the server acknowledged them
 */
export async function sendActions(conn, actions, onError) {
  if (!conn || !canSend(conn)) return false;
  try {
    await conn.actions(actions);
    return true;
  } catch (e) {
    onError(/** @type {Error} */ (e));
    return false;
  }
}

/**
 * A typed command from a chat input: empties the input, shows the text as what the shopper said, then the
 * server's reply (or what went wrong) on the reply line. Nothing happens for blank text or while the
 * connection cannot send (the text stays in the input).
 * @param {CommandConnection | null | undefined} conn
 * @param {{value: string}} input
 * @param {{transcript: TextSink, reply: TextSink}} show
 * @param {string} [lang] language of the text (default: the page's)
 * @returns {Promise<boolean>} whether the command was sent and acknowledged
 */
export async function submitCommand(conn, input, show, lang = speechLang()) {
  const text = input.value.trim();
  if (!text || !conn || !canSend(conn)) return false;
  input.value = "";
  show.transcript.textContent = text;
  try {
    const ack = await conn.command(text, lang);
    if (ack.reply) show.reply.textContent = ack.reply;
    return true;
  } catch (e) {
    show.reply.textContent = errorText(/** @type {Error} */ (e));
    return false;
  }
}

/** The keys that hold push-to-talk from the keyboard. @param {string} key */
export function isTalkKey(key) {
  return key === " " || key === "Enter";
}

/**
 * The push-to-talk button: the microphone track is enabled while the button is held (pointer, or Space/Enter
 * from the keyboard) and silent otherwise; the button shows aria-pressed, the "on" class and "Listening…".
 * @param {HTMLButtonElement} button
 * @param {TextSink | null} label  the button's text (#ptt-text)
 * @param {() => MediaStream | null} getStream  the page's current camera + microphone stream
 * @returns {(on: boolean) => void} talk(on), for other inputs that hold the microphone
 */
export function bindPushToTalk(button, label, getStream) {
  const talk = (/** @type {boolean} */ on) => {
    const stream = getStream();
    if (!stream || button.disabled) return;
    if (!setMic(stream, on) && on) return; // no microphone track: nothing to hold
    button.setAttribute("aria-pressed", String(on));
    button.classList.toggle("on", on);
    if (label) label.textContent = t(on ? "mic.listening" : "mic.hold");
  };
  button.addEventListener("pointerdown", (ev) => {
    ev.preventDefault();
    button.setPointerCapture(ev.pointerId);
    talk(true);
  });
  button.addEventListener("pointerup", () => talk(false));
  button.addEventListener("pointercancel", () => talk(false));
  button.addEventListener("keydown", (ev) => {
    if (isTalkKey(ev.key) && !ev.repeat) {
      ev.preventDefault();
      talk(true);
    }
  });
  button.addEventListener("keyup", (ev) => {
    if (isTalkKey(ev.key)) talk(false);
  });
  button.addEventListener("click", (ev) => ev.preventDefault());
  return talk;
}

/**
 * Commands on a page with the common elements: #chat-input, #transcript, #reply and, where the page has them,
 * #ptt / #ptt-text. formId is the chat form's id (the kiosk's is "type-form").
 * @param {{getConn: () => CommandConnection | null, getStream: () => MediaStream | null, formId?: string}} page
 * @returns {{send: (actions: Action[]) => Promise<boolean>, talk: ((on: boolean) => void) | null}}
 *   send(actions) shows a failure on #reply; talk is push-to-talk's (null without a #ptt button)
 */
export function bindPageCommands({ getConn, getStream, formId = "chat-form" }) {
  const el = (/** @type {string} */ id) => document.getElementById(id);
  const input = /** @type {HTMLInputElement} */ (el("chat-input"));
  const show = { transcript: /** @type {HTMLElement} */ (el("transcript")), reply: /** @type {HTMLElement} */ (el("reply")) };
  const form = /** @type {HTMLFormElement} */ (el(formId));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submitCommand(getConn(), input, show);
  });
  const ptt = /** @type {HTMLButtonElement | null} */ (el("ptt"));
  return {
    send: (actions) => sendActions(getConn(), actions, (e) => (show.reply.textContent = errorText(e))),
    talk: ptt ? bindPushToTalk(ptt, el("ptt-text"), getStream) : null,
  };
}
