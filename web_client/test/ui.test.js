// ui.js's pure parts: the sizes and views the pages offer (from vocab.js), outfit labels and choices, size
// advice, options, and the status and quality read-outs bound to fake connections and elements.
import assert from "node:assert/strict";
import { test } from "node:test";

import { t } from "../js/i18n.js";
import {
  CHART_SIZES,
  COLORS,
  VIEWS,
  adviceText,
  bindQuality,
  bindStatus,
  cleanOptions,
  comparedSizes,
  itemChoices,
  itemLabel,
  sizeRange,
  swatchColor,
} from "../js/ui.js";
import * as vocab from "../js/vocab.js";

test("the pages offer the size charts' letter sizes, in the vocabulary's order", () => {
  assert.deepEqual(CHART_SIZES, ["XS", "S", "M", "L", "XL", "XXL"]);
  const i = vocab.SIZES.indexOf("XS");
  assert.deepEqual(vocab.SIZES.slice(i, i + CHART_SIZES.length), CHART_SIZES);
});

test("sizeRange", () => {
  assert.deepEqual(sizeRange(["XXS", "XS", "S", "M"], "XS", "S"), ["XS", "S"]);
  assert.deepEqual(sizeRange(["S", "M"], "XS", "M"), ["S", "M"]); // a bound missing: everything
  assert.deepEqual(sizeRange(["S", "M"], "M", "S"), ["S", "M"]);
});

test("colours and views come from the vocabulary; every colour has a swatch", () => {
  assert.equal(COLORS, vocab.COLORS);
  assert.equal(VIEWS, vocab.VIEWS);
  for (const c of COLORS) assert.match(swatchColor(c), /^#[0-9a-f]{6}$/, c);
  assert.equal(swatchColor("#123456"), "#123456");
  // the kiosk and the VR strip show the first four views
  assert.deepEqual(VIEWS.slice(0, 4), ["front", "back", "left", "right"]);
  for (const v of VIEWS) assert.notEqual(t(`view.${v}`), `view.${v}`, `no label for view ${v}`);
});

test("compare sizes: the current one and the next bigger, or smaller at the top", () => {
  assert.deepEqual(comparedSizes("M", true), ["M", "L"]);
  assert.deepEqual(comparedSizes("XXL", true), ["XXL", "XL"]);
  assert.deepEqual(comparedSizes("XS", true), ["XS", "S"]);
  assert.deepEqual(comparedSizes("M", false), ["M"]);
});

test("cleanOptions drops null and undefined only", () => {
  assert.deepEqual(cleanOptions({ layout: "mosaic", fps: null, resolution: undefined, views: 0, lang: "" }), {
    layout: "mosaic",
    views: 0,
    lang: "",
  });
});

test("an outfit item's colour and size choices: its own, else the vocabularies", () => {
  assert.deepEqual(itemChoices({}), { colors: [...COLORS], sizes: CHART_SIZES });
  assert.deepEqual(itemChoices({ colors: [{ name: "red" }, "blue", {}], sizes: ["S", "M"] }), {
    colors: ["red", "blue"],
    sizes: ["S", "M"],
  });
  assert.deepEqual(itemChoices({ size_chart: { "38": {}, "40": {} } }).sizes, ["38", "40"]);
});

test("an outfit item's label", () => {
  assert.equal(itemLabel({ name: "Linen shirt", color: { name: "white" }, size: "L" }), "Linen shirt · white · L");
  assert.equal(itemLabel({ category: "dress", color: "red" }), "dress · red");
  assert.equal(itemLabel({}), "?");
});

test("size advice only for a fit that is ok", () => {
  assert.equal(adviceText({}), "");
  assert.equal(adviceText({ fit: { status: "no_body" } }), "");
  assert.equal(
    adviceText({ fit: { status: "ok", size: "M", overall: "regular", details: { chest: "snug" } } }),
    "Size M — regular — chest: snug",
  );
});

/** An element stand-in: text, data-* and hidden. */
const fakeEl = () => ({ textContent: "", dataset: {}, hidden: false, addEventListener() {} });

test("the quality read-out: fps, round trip and a level", () => {
  const conn = new EventTarget();
  const el = fakeEl();
  bindQuality(/** @type {any} */ (conn), /** @type {any} */ (el));
  conn.dispatchEvent(new CustomEvent("quality", { detail: { fps: 14.6, rttMs: 42.4 } }));
  assert.equal(el.textContent, "15 fps · round trip 42 ms");
  assert.deepEqual({ ...el.dataset }, { fps: "14.6", rtt: "42.4", level: "good" });
  conn.dispatchEvent(new CustomEvent("quality", { detail: { fps: 2, rttMs: null } }));
  assert.equal(el.dataset.level, "poor");
  conn.dispatchEvent(new CustomEvent("quality", { detail: { fps: null, rttMs: null } }));
  assert.equal(el.textContent, "– fps · round trip –");
  assert.equal(el.dataset.level, undefined);
});

test("the status line and its retry button", () => {
  const conn = new EventTarget();
  const el = fakeEl();
  const retry = fakeEl();
  bindStatus(/** @type {any} */ (conn), /** @type {any} */ (el), /** @type {any} */ (retry));
  const status = (detail) => conn.dispatchEvent(new CustomEvent("status", { detail }));
  status({ state: "connecting" });
  assert.equal(el.textContent, "Connecting…");
  assert.equal(retry.hidden, true);
  status({ state: "full", retryInS: 5 });
  assert.equal(el.textContent, "The fitting room is full. Trying again in 5 s…");
  assert.equal(el.dataset.state, "full");
  assert.equal(retry.hidden, false);
  status({ state: "connected" }); // stops the countdown
  assert.equal(el.textContent, "Connected");
  assert.equal(retry.hidden, true);
  status({ state: "failed", detail: "bad offer" });
  assert.equal(el.textContent, "Connection failed: bad offer");
});
