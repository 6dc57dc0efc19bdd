// commands.js, the desktop, kiosk and XR pages' one way to send actions, typed commands and push-to-talk,
// with fake connections, elements and streams (no DOM).
import assert from "node:assert/strict";
import { test } from "node:test";

import { bindPushToTalk, canSend, errorText, isTalkKey, sendActions, submitCommand } from "../js/commands.js";

/** A FitConnection stand-in that records what it was asked and answers (or fails) like the server. */
function fakeConn({ canSend = true, reply = "Here you go", fail = null } = {}) {
  const sent = [];
  return {
    sent,
    canSend,
    async actions(actions) {
      sent.push({ actions });
      if (fail) throw new Error(fail);
      return { type: "ack" };
    },
    async command(text, lang) {
      sent.push({ text, lang });
      if (fail) throw new Error(fail);
      return reply === null ? { type: "ack" } : { type: "ack", reply };
    },
  };
}

const show = () => ({ transcript: { textContent: "" }, reply: { textContent: "" } });

test("canSend needs a connection with an open control channel", () => {
  assert.equal(canSend(null), false);
  assert.equal(canSend(fakeConn({ canSend: false })), false);
  assert.equal(canSend(fakeConn()), true);
});

test("sendActions sends when it can and reports failures", async () => {
  const conn = fakeConn();
  assert.equal(await sendActions(conn, [{ type: "set_size", size: "M" }], assert.fail), true);
  assert.deepEqual(conn.sent, [{ actions: [{ type: "set_size", size: "M" }] }]);

  const closed = fakeConn({ canSend: false });
  assert.equal(await sendActions(closed, [{ type: "view", view: "back" }], assert.fail), false);
  assert.equal(await sendActions(null, [{ type: "view", view: "back" }], assert.fail), false);
  assert.deepEqual(closed.sent, []);

  const errors = [];
  assert.equal(await sendActions(fakeConn({ fail: "bad size" }), [{ type: "set_size", size: "Q" }], (e) => errors.push(e.message)), false);
  assert.deepEqual(errors, ["bad size"]);
  assert.equal(errorText(new Error("bad size")), "Something went wrong: bad size");
});

test("a typed command: trimmed, input emptied, shown as said, the reply shown", async () => {
  const conn = fakeConn();
  const input = { value: "  show me the red dress  " };
  const s = show();
  assert.equal(await submitCommand(conn, input, s, "en"), true);
  assert.deepEqual(conn.sent, [{ text: "show me the red dress", lang: "en" }]);
  assert.equal(input.value, "");
  assert.equal(s.transcript.textContent, "show me the red dress");
  assert.equal(s.reply.textContent, "Here you go");
});

test("a typed command without a reply leaves the reply line alone; the page's language by default", async () => {
  const conn = fakeConn({ reply: null });
  const s = show();
  s.reply.textContent = "earlier reply";
  assert.equal(await submitCommand(conn, { value: "blue" }, s), true);
  assert.deepEqual(conn.sent, [{ text: "blue", lang: "en" }]);
  assert.equal(s.reply.textContent, "earlier reply");
});

test("blank text, or no open connection, sends nothing and keeps the text", async () => {
  const s = show();
  const blank = { value: "   " };
  assert.equal(await submitCommand(fakeConn(), blank, s), false);
  const closed = fakeConn({ canSend: false });
  const input = { value: "red" };
  assert.equal(await submitCommand(closed, input, s), false);
  assert.equal(await submitCommand(null, input, s), false);
  assert.equal(input.value, "red");
  assert.deepEqual(closed.sent, []);
  assert.equal(s.transcript.textContent, "");
});

test("a failed command shows the error on the reply line", async () => {
  const s = show();
  assert.equal(await submitCommand(fakeConn({ fail: "timed out" }), { value: "red" }, s), false);
  assert.equal(s.transcript.textContent, "red");
  assert.equal(s.reply.textContent, "Something went wrong: timed out");
});

// --- push-to-talk ---------------------------------------------------------------------------------------

/** A button stand-in: an EventTarget with the attributes, classes and pointer capture push-to-talk uses. */
class FakeButton extends EventTarget {
  constructor() {
    super();
    this.disabled = false;
    this.attrs = { "aria-pressed": "false" };
    this.classes = new Set();
    this.captured = [];
    this.classList = { toggle: (c, on) => (on ? this.classes.add(c) : this.classes.delete(c)) };
  }
  setAttribute(k, v) {
    this.attrs[k] = v;
  }
  setPointerCapture(id) {
    this.captured.push(id);
  }
  fire(type, props = {}) {
    const ev = Object.assign(new Event(type, { cancelable: true }), props);
    this.dispatchEvent(ev);
    return ev;
  }
}

function micStream(tracks = 1) {
  const audio = Array.from({ length: tracks }, () => ({ enabled: false }));
  return { audio, getAudioTracks: () => audio };
}

test("holding the button (pointer) opens the microphone; releasing or cancelling silences it", () => {
  const button = new FakeButton();
  const label = { textContent: "Hold to talk" };
  const stream = micStream();
  bindPushToTalk(/** @type {any} */ (button), label, () => stream);
  const down = button.fire("pointerdown", { pointerId: 7 });
  assert.ok(down.defaultPrevented);
  assert.deepEqual(button.captured, [7]);
  assert.equal(stream.audio[0].enabled, true);
  assert.equal(button.attrs["aria-pressed"], "true");
  assert.ok(button.classes.has("on"));
  assert.equal(label.textContent, "Listening… release to send");
  button.fire("pointerup");
  assert.equal(stream.audio[0].enabled, false);
  assert.equal(button.attrs["aria-pressed"], "false");
  assert.ok(!button.classes.has("on"));
  assert.equal(label.textContent, "Hold to talk");
  button.fire("pointerdown", { pointerId: 8 });
  button.fire("pointercancel");
  assert.equal(stream.audio[0].enabled, false);
  assert.ok(button.fire("click").defaultPrevented); // a click is not a toggle
});

test("Space or Enter hold it from the keyboard; key repeats and other keys do nothing", () => {
  assert.ok(isTalkKey(" ") && isTalkKey("Enter") && !isTalkKey("a"));
  const button = new FakeButton();
  const stream = micStream();
  bindPushToTalk(/** @type {any} */ (button), null, () => stream);
  button.fire("keydown", { key: "a", repeat: false });
  assert.equal(stream.audio[0].enabled, false);
  assert.ok(button.fire("keydown", { key: " ", repeat: false }).defaultPrevented);
  assert.equal(stream.audio[0].enabled, true);
  assert.ok(!button.fire("keydown", { key: " ", repeat: true }).defaultPrevented);
  button.fire("keyup", { key: " " });
  assert.equal(stream.audio[0].enabled, false);
  button.fire("keydown", { key: "Enter", repeat: false });
  assert.equal(button.attrs["aria-pressed"], "true");
  button.fire("keyup", { key: "Enter" });
  assert.equal(button.attrs["aria-pressed"], "false");
});

test("no stream, no microphone track or a disabled button: the button does not look pressed", () => {
  let stream = null;
  const button = new FakeButton();
  const talk = bindPushToTalk(/** @type {any} */ (button), null, () => stream);
  talk(true);
  assert.equal(button.attrs["aria-pressed"], "false");
  stream = micStream(0); // camera only
  talk(true);
  assert.equal(button.attrs["aria-pressed"], "false");
  stream = micStream(1);
  button.disabled = true;
  talk(true);
  assert.equal(stream.audio[0].enabled, false);
  button.disabled = false;
  talk(true); // the stream is read when the button is held: a new camera after Retry is used
  assert.equal(stream.audio[0].enabled, true);
  assert.equal(button.attrs["aria-pressed"], "true");
});
