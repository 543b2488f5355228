/**
 * A self-contained HTML page showing predictions: every entity highlighted in its label's
 * colour, with the label after it, a legend with counts, and the score on hover.
 *
 * Safety: all text and labels are HTML-escaped; labels never reach CSS (colours are attached by
 * label index, `.l0`, `.l1`, ...); a Content-Security-Policy forbids scripts and any external
 * load, so even a broken escape could not run code or fetch anything.
 *
 * Nesting: entities nest as nested <mark>s (the outer colour stays visible around the inner one);
 * the same span with several labels nests the same way. Entities that cross without nesting
 * (GLiNER never outputs these, hand-made lists might) are split where they cross, and only the
 * last piece carries the label.
 */
import type { Entity } from '../decoding';

export interface HtmlOptions {
  /** Page title. Default 'GLiNER entities'. */
  title?: string;
  /** Label order for colours and the legend; labels found in results but not listed come after. */
  labels?: readonly string[];
}

/** Light colours, distinct from each other and from white, dark text stays readable on them. */
export const LABEL_PALETTE: readonly string[] = [
  '#ffb3ba', '#a8d8ff', '#b8f2c2', '#ffd8a8', '#dcc2ff', '#fff3a0',
  '#a0e7e5', '#f8c8dc', '#c5cae9', '#d4f0a0', '#ffc6a8', '#b0bec5',
];

function hslToHex(h: number, s: number, l: number): string {
  const a = s * Math.min(l, 1 - l);
  const f = (n: number) => {
    const k = (n + h / 30) % 12;
    const c = l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1));
    return Math.round(c * 255).toString(16).padStart(2, '0');
  };
  return `#${f(0)}${f(8)}${f(4)}`;
}

/** The colour of the i-th label: the palette first, then golden-angle hues (never repeating nearby). */
export function labelColor(index: number): string {
  if (index < LABEL_PALETTE.length) return LABEL_PALETTE[index];
  return hslToHex(((index - LABEL_PALETTE.length) * 137.508 + 20) % 360, 0.75, 0.8);
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

/** Labels in legend order: the given order, then first appearance in the results. */
export function labelOrder(results: readonly { entities: readonly Entity[] }[], given: readonly string[] = []): string[] {
  const order: string[] = [];
  const seen = new Set<string>();
  const add = (l: string) => {
    if (!seen.has(l)) {
      seen.add(l);
      order.push(l);
    }
  };
  given.forEach(add);
  for (const r of results) for (const e of r.entities) add(e.label);
  return order;
}

interface Piece {
  start: number;
  end: number;
  entity: Entity;
  /** false for a piece of a split entity that is not its last. */
  last: boolean;
  children: Piece[];
}

function outerFirst(a: Piece, b: Piece): number {
  return a.start - b.start || b.end - a.end || b.entity.score - a.entity.score;
}

/** Builds the nesting tree; crossing entities are split at the boundary they cross. */
function buildTree(entities: readonly Entity[]): Piece[] {
  const queue: Piece[] = entities.map((e) => ({ start: e.start, end: e.end, entity: e, last: true, children: [] }));
  queue.sort(outerFirst);
  const roots: Piece[] = [];
  const open: Piece[] = [];
  while (queue.length > 0) {
    const p = queue.shift()!;
    while (open.length > 0 && open[open.length - 1].end <= p.start) open.pop();
    const parent = open[open.length - 1];
    if (parent && p.end > parent.end) {
      // Crosses its parent's end: keep the inside part here, the rest goes back in the queue.
      const rest: Piece = { start: parent.end, end: p.end, entity: p.entity, last: p.last, children: [] };
      p.end = parent.end;
      p.last = false;
      const at = queue.findIndex((q) => outerFirst(rest, q) < 0);
      queue.splice(at < 0 ? queue.length : at, 0, rest);
    }
    (parent ? parent.children : roots).push(p);
    open.push(p);
  }
  return roots;
}

function renderPieces(text: string, pieces: readonly Piece[], from: number, to: number, classOf: Map<string, number>): string {
  let html = '';
  let at = from;
  for (const p of pieces) {
    html += escapeHtml(text.slice(at, p.start));
    const e = p.entity;
    const label = escapeHtml(e.label);
    const title = `${label} (${e.score.toFixed(3)})`;
    html += `<mark class="e l${classOf.get(e.label)}${p.last ? '' : ' cont'}" title="${title}">`;
    html += renderPieces(text, p.children, p.start, p.end, classOf);
    if (p.last) html += `<span class="tag">${label}</span>`;
    html += '</mark>';
    at = p.end;
  }
  return html + escapeHtml(text.slice(at, to));
}

export const STYLE = `
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#1b1b1b;background:#fff}
h1{font-size:1.4rem;margin:0 0 1rem}
h2{font-size:.95rem;color:#555;margin:1.5rem 0 .4rem;font-weight:600}
h2 small{font-weight:400;color:#777}
.legend{display:flex;flex-wrap:wrap;gap:.4rem;margin-bottom:1rem;padding:0;list-style:none}
.legend li{padding:.2rem .6rem;border-radius:.4rem;font-size:.9rem}
.legend .n{color:#555;margin-left:.35rem;font-size:.8rem}
.text{white-space:pre-wrap;line-height:2.4;border:1px solid #ddd;border-radius:.5rem;padding:.6rem .9rem;margin:0}
mark.e{color:inherit;padding:.3em .35em;border-radius:.4em;box-decoration-break:clone;-webkit-box-decoration-break:clone}
mark.e mark.e{padding:.02em .3em}
mark.e.cont{border-top-right-radius:0;border-bottom-right-radius:0;padding-right:0}
mark.e .tag{font-size:.62em;font-weight:700;text-transform:uppercase;letter-spacing:.03em;margin-left:.35em;vertical-align:.1em;color:#333}
.none{color:#777;font-style:italic}
`;

/** The whole page for `results`. Inputs are assumed validated (formatResults does that). */
export function renderHtml(results: readonly { text: string; entities: readonly Entity[] }[], options: HtmlOptions = {}): string {
  const labels = labelOrder(results, options.labels);
  const classOf = new Map(labels.map((l, i) => [l, i] as [string, number]));
  const counts = new Map<string, number>();
  for (const r of results) for (const e of r.entities) counts.set(e.label, (counts.get(e.label) ?? 0) + 1);
  const title = escapeHtml(options.title ?? 'GLiNER entities');

  const colourRules = labels.map((_, i) => `.l${i}{background:${labelColor(i)}}`).join('\n');
  const legend = labels
    .map((l, i) => `<li class="l${i}">${escapeHtml(l)}<span class="n">${counts.get(l) ?? 0}</span></li>`)
    .join('');
  const docs = results
    .map((r, i) => {
      const n = r.entities.length;
      const body = renderPieces(r.text, buildTree(r.entities), 0, r.text.length, classOf);
      return `<section><h2>Text ${i + 1} <small>${n} ${n === 1 ? 'entity' : 'entities'}</small></h2><p class="text">${body || '<span class="none">(empty)</span>'}</p></section>`;
    })
    .join('\n');

  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>${STYLE}${colourRules}
</style>
</head>
<body>
<h1>${title}</h1>
<ul class="legend">${legend || '<li class="none">no entities</li>'}</ul>
${docs}
</body>
</html>
`;
}
