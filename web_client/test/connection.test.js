// connection.js's pure parts: the answer's bitrate munging and message ids.
import assert from "node:assert/strict";
import { test } from "node:test";

import { mungeAnswerBitrate, newId } from "../js/connection.js";

const SDP = [
  "v=0",
  "m=video 9 UDP/TLS/RTP/SAVPF 96 97 98",
  "a=rtpmap:96 VP8/90000",
  "a=rtpmap:97 rtx/90000",
  "a=fmtp:97 apt=96",
  "a=rtpmap:98 H264/90000",
  "a=fmtp:98 packetization-mode=1",
  "",
].join("\r\n");

test("mungeAnswerBitrate adds x-google bitrates to each video codec, once", () => {
  const out = mungeAnswerBitrate(SDP, { startKbps: 1000, minKbps: 500, maxKbps: 2000 });
  const rates = "x-google-start-bitrate=1000;x-google-min-bitrate=500;x-google-max-bitrate=2000";
  const lines = out.split("\r\n");
  assert.equal(lines[lines.indexOf("a=rtpmap:96 VP8/90000") + 1], `a=fmtp:96 ${rates}`); // VP8 had no fmtp
  assert.ok(lines.includes(`a=fmtp:98 packetization-mode=1;${rates}`));
  assert.ok(lines.includes("a=fmtp:97 apt=96")); // rtx untouched
  assert.equal(mungeAnswerBitrate(out, { startKbps: 1000, minKbps: 500, maxKbps: 2000 }), out); // idempotent
});

test("newId is unique and keeps its prefix", () => {
  const ids = new Set(Array.from({ length: 100 }, () => newId("p")));
  assert.equal(ids.size, 100);
  for (const id of ids) assert.match(id, /^p[0-9a-z]+$/);
});
