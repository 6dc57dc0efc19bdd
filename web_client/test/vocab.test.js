// The contract the pages rely on in the generated vocab.js (made from the Python vocabularies): five named
// arrays of distinct names, sizes in order from XXS to 4XL.
import assert from "node:assert/strict";
import { test } from "node:test";

import * as vocab from "../js/vocab.js";

test("vocab.js exports the five vocabularies as arrays of distinct names", () => {
  for (const name of ["SIZES", "VIEWS", "LAYOUTS", "CATEGORIES", "COLORS"]) {
    const list = vocab[name];
    assert.ok(Array.isArray(list) && list.length > 0, name);
    assert.ok(list.every((x) => typeof x === "string" && x.length > 0), name);
    assert.equal(new Set(list).size, list.length, `${name} has repeats`);
  }
});

test("sizes run from XXS to 4XL; the layouts include the pages' own", () => {
  assert.equal(vocab.SIZES[0], "XXS");
  assert.equal(vocab.SIZES.at(-1), "4XL");
  for (const layout of ["mosaic", "mirror", "stereo"]) assert.ok(vocab.LAYOUTS.includes(layout), layout);
});
