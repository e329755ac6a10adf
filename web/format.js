// format.js -- numbers and times as people read them, and a small DOM
// builder that only ever sets text (names from the server are never HTML).

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

// 0 -> "0 B", 1536 -> "1.5 KiB", 10485760 -> "10 MiB".
export function size(n) {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '';
  let u = 0;
  let v = n;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  if (u === 0) return `${n} B`;
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${UNITS[u]}`;
}

const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

export function date(ms) {
  return typeof ms === 'number' && ms > 0 ? dateFmt.format(new Date(ms)) : '';
}

export function isoDate(ms) {
  return typeof ms === 'number' && ms > 0 ? new Date(ms).toISOString() : '';
}

// h('a', {href: '#', class: 'x', onclick: fn}, 'text', child...): an element.
// Attributes starting with "on" become listeners; "dataset" an object of
// data-* values; children are nodes or strings (made text nodes).
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
