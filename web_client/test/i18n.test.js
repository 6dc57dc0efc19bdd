// i18n.js without a page: language choice, translation with placeholders, both languages complete.
import assert from "node:assert/strict";
import { test } from "node:test";

import { LANGS, STRINGS, chooseLang, lang, onLangChange, setLang, speechLang, t, toggleLang } from "../js/i18n.js";

test("the language comes from ?lang=, then the saved choice, then the browser", () => {
  assert.equal(chooseLang("zh", "en", "en-US"), "zh");
  assert.equal(chooseLang("fr", "zh", "en-US"), "zh"); // an unknown ?lang= is ignored
  assert.equal(chooseLang(null, null, "zh-TW"), "zh");
  assert.equal(chooseLang(null, "xx", "de-DE"), "en");
  assert.equal(chooseLang(undefined, undefined), "en");
});

test("outside a page the UI starts in English", () => {
  assert.equal(lang(), "en");
  assert.equal(speechLang(), "en");
});

test("t fills placeholders, falls back to English and shows unknown keys", () => {
  assert.equal(t("status.reconnecting", { s: 3 }), "Connection lost. Reconnecting in 3 s…");
  assert.equal(t("error.generic"), "Something went wrong: {detail}");
  assert.equal(t("no.such.key"), "no.such.key");
});

test("setLang switches, tells the listeners and ignores unknown codes (no document needed)", () => {
  const heard = [];
  onLangChange((code) => heard.push(code));
  setLang("zh");
  assert.equal(lang(), "zh");
  assert.equal(speechLang(), "zh");
  assert.equal(t("chat.send"), "发送");
  setLang("fr");
  assert.equal(lang(), "zh");
  toggleLang();
  assert.equal(lang(), "en");
  assert.deepEqual(heard, ["zh", "en"]);
});

test("every language has every key, with the same placeholders", () => {
  assert.deepEqual(LANGS, ["en", "zh"]);
  const holes = (s) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
  for (const code of LANGS) {
    assert.deepEqual(Object.keys(STRINGS[code]).sort(), Object.keys(STRINGS.en).sort(), code);
    for (const [key, s] of Object.entries(STRINGS[code])) assert.deepEqual(holes(s), holes(STRINGS.en[key]), `${code} ${key}`);
  }
});
