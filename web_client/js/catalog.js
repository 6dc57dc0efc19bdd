// Catalogue look-ups (GET /api/catalog, served by server/catalog_api.py) with a small in-memory cache, so
// outfit items that carry only a product_id can show the product's name, colours and sizes.

const cache = new Map();

/** List products: {products, total, page, page_size}; filters as the API takes them (category, color, q...). */
export async function listProducts(base, filters = {}) {
  const qs = new URLSearchParams({ page_size: "8", ...filters });
  const res = await fetch(`${base}/api/catalog?${qs}`);
  if (!res.ok) throw new Error(`catalogue: HTTP ${res.status}`);
  const body = await res.json();
  for (const p of body.products || []) cache.set(p.id, p);
  return body;
}

/** One product by id (cached); null when unknown. */
export async function getProduct(base, id) {
  if (cache.has(id)) return cache.get(id);
  const res = await fetch(`${base}/api/catalog/${encodeURIComponent(id)}`);
  if (!res.ok) return null;
  const p = await res.json();
  cache.set(id, p);
  return p;
}

/** Cached product or undefined (synchronous, for rendering). */
export function cachedProduct(id) {
  return id ? cache.get(id) : undefined;
}

/** URL of a product's texture swatch in a colour. */
export function textureUrl(base, id, color) {
  const qs = color ? `?color=${encodeURIComponent(color)}` : "";
  return `${base}/api/catalog/${encodeURIComponent(id)}/texture.png${qs}`;
}
