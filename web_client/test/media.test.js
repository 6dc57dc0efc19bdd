// media.js's pure parts: getUserMedia errors as i18n keys, the microphone switch.
import assert from "node:assert/strict";
import { test } from "node:test";

import { classifyMediaError, setMic, stopStream } from "../js/media.js";
import { STRINGS } from "../js/i18n.js";

test("getUserMedia errors map to camera messages that exist", () => {
  const cases = {
    NotFoundError: "camera.none",
    OverconstrainedError: "camera.none",
    NotAllowedError: "camera.denied",
    SecurityError: "camera.denied",
    NotReadableError: "camera.busy",
    AbortError: "camera.busy",
    InsecureContextError: "camera.insecure",
    TypeError: "camera.error",
  };
  for (const [name, key] of Object.entries(cases)) {
    assert.equal(classifyMediaError({ name }), key, name);
    assert.ok(STRINGS.en[key], key);
  }
  assert.equal(classifyMediaError(null), "camera.error");
});

function fakeStream(audio = 1) {
  const tracks = { audio: Array.from({ length: audio }, () => ({ enabled: true, stopped: false, stop() { this.stopped = true; } })) };
  tracks.video = [{ enabled: true, stopped: false, stop() { this.stopped = true; } }];
  return {
    tracks,
    getAudioTracks: () => tracks.audio,
    getTracks: () => [...tracks.video, ...tracks.audio],
  };
}

test("setMic enables and silences the audio tracks and says whether there are any", () => {
  const s = fakeStream(2);
  assert.equal(setMic(s, false), true);
  assert.deepEqual(s.tracks.audio.map((tr) => tr.enabled), [false, false]);
  assert.equal(setMic(s, true), true);
  assert.deepEqual(s.tracks.audio.map((tr) => tr.enabled), [true, true]);
  assert.equal(setMic(fakeStream(0), true), false);
  assert.equal(setMic(null, true), false);
});

test("stopStream stops every track", () => {
  const s = fakeStream(1);
  stopStream(s);
  assert.ok(s.getTracks().every((tr) => tr.stopped));
  stopStream(null);
});
