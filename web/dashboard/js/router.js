// router.js - hash routes: #/<page>[/<id>][?query]. Filters live in the query so a URL
// reproduces what the operator saw; changing them is a navigation (back button works).

export function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/overview';
  const [path, query = ''] = raw.split('?');
  return { parts: path.split('/').filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(query) };
}

/* Navigate to the current page with these query parameters (empty values dropped). */
export function setParams(params) {
  const { parts } = parseHash();
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '') continue;
    if (Array.isArray(v)) v.forEach((x) => q.append(k, x));
    else q.set(k, v);
  }
  const target = '#/' + parts.map(encodeURIComponent).join('/') + (q.toString() ? '?' + q : '');
  if (target !== location.hash) location.hash = target;
}
