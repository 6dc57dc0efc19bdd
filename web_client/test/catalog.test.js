// catalog.js against a stubbed fetch: URLs, the cache, errors.
import assert from "node:assert/strict";
import { afterEach, test } from "node:test";

import { cachedProduct, getProduct, listProducts, textureUrl } from "../js/catalog.js";

const realFetch = globalThis.fetch;
afterEach(() => {
  globalThis.fetch = realFetch;
});

/** A fetch that answers from a table of URL -> [status, body] and records what was asked. */
function stubFetch(table) {
  const asked = [];
  globalThis.fetch = async (url) => {
    asked.push(String(url));
    const [status, body] = table[String(url)] || [404, { error: "not found" }];
    return { ok: status >= 200 && status < 300, status, json: async () => body };
  };
  return asked;
}

test("textureUrl escapes the id and the colour", () => {
  assert.equal(textureUrl("http://h", "a b", "navy"), "http://h/api/catalog/a%20b/texture.png?color=navy");
  assert.equal(textureUrl("http://h", "p1"), "http://h/api/catalog/p1/texture.png");
});

test("listProducts passes the filters and caches every product it lists", async () => {
  const p = { id: "dress-1", name: "Red dress", category: "dress" };
  const asked = stubFetch({
    "http://h/api/catalog?page_size=6&category=dress": [200, { products: [p], total: 1, page: 1, page_size: 6 }],
  });
  const body = await listProducts("http://h", { page_size: "6", category: "dress" });
  assert.equal(body.total, 1);
  assert.deepEqual(asked, ["http://h/api/catalog?page_size=6&category=dress"]);
  assert.deepEqual(cachedProduct("dress-1"), p);
  assert.equal(await getProduct("http://h", "dress-1"), p); // from the cache: no second request
  assert.equal(asked.length, 1);
});

test("listProducts throws on an HTTP error; getProduct gives null for an unknown id", async () => {
  stubFetch({ "http://h/api/catalog?page_size=8": [500, {}] });
  await assert.rejects(listProducts("http://h"), /catalogue: HTTP 500/);
  assert.equal(await getProduct("http://h", "nope"), null);
  assert.equal(cachedProduct("nope"), undefined);
  assert.equal(cachedProduct(""), undefined);
});
