/**
 * The demo page served at `/`: one self-contained HTML file (inline style and script, no CDN),
 * styled like the HTML output (src/output/html.ts) with the same label colours. The script only
 * talks to the API: same origin by default, or `?api=http://host:port` for use as a static page
 * on another origin (the server must then run with --cors ORIGIN). The CSP header allows exactly
 * this inline script and style by hash.
 */
import { createHash } from 'crypto';
import { STYLE, labelColor } from '../output/html';

const EXAMPLES = [
  { text: 'Kalo Dorvasel joined Tavosel Labs in Mirenburg on 4 May 2021.', labels: 'person, organization, city, date' },
  { text: 'On 3 June 2020 Pera Vask met Lomi Trask of Dorvo Group in Kestel.', labels: 'person, organization, city, date' },
  { text: 'Cristiano Ronaldo won the Ballon d\'Or in 2008 with Manchester United.', labels: 'person, award, date, organization' },
];

const DEMO_STYLE = `${STYLE}
form{display:grid;gap:.6rem;margin-bottom:1rem}
textarea{font:inherit;width:100%;min-height:6rem;box-sizing:border-box;padding:.5rem}
input[type=text]{font:inherit;width:100%;box-sizing:border-box;padding:.3rem}
.row{display:flex;flex-wrap:wrap;gap:1rem;align-items:center}
button{font:inherit;padding:.4rem 1.2rem}
table{border-collapse:collapse;margin-top:1rem}
td,th{border:1px solid #ddd;padding:.2rem .6rem;text-align:left}
.error{color:#a00}
`;

const DEMO_SCRIPT = String.raw`
(function () {
  var COLORS = JSON.parse(document.getElementById('colors').textContent);
  var EXAMPLES = JSON.parse(document.getElementById('examples').textContent);
  var api = new URLSearchParams(location.search).get('api') || '';
  var $ = function (id) { return document.getElementById(id); };
  EXAMPLES.forEach(function (ex, i) {
    var b = document.createElement('button');
    b.type = 'button'; b.textContent = 'Example ' + (i + 1);
    b.addEventListener('click', function () { $('text').value = ex.text; $('labels').value = ex.labels; });
    $('examples-row').appendChild(b);
  });
  $('threshold').addEventListener('input', function () { $('threshold-value').textContent = $('threshold').value; });
  function colour(i) { return COLORS[i % COLORS.length]; }
  function render(text, entities, labels) {
    var out = $('result'); out.textContent = '';
    var p = document.createElement('p'); p.className = 'text'; p.id = 'highlighted';
    // Outer entities first; GLiNER's entities nest or are disjoint, never cross.
    var sorted = entities.slice().sort(function (a, b) { return a.start - b.start || b.end - a.end || b.score - a.score; });
    function build(parent, from, to, list) {
      var at = from;
      while (list.length && list[0].start < to) {
        var e = list.shift();
        if (e.start < at) continue;
        parent.appendChild(document.createTextNode(text.slice(at, e.start)));
        var m = document.createElement('mark'); m.className = 'e';
        m.dataset.label = e.label; m.title = e.label + ' (' + e.score.toFixed(3) + ')';
        m.style.background = colour(labels.indexOf(e.label));
        var inner = [];
        while (list.length && list[0].start < e.end) inner.push(list.shift());
        build(m, e.start, e.end, inner);
        var tag = document.createElement('span'); tag.className = 'tag'; tag.textContent = e.label; m.appendChild(tag);
        parent.appendChild(m);
        at = e.end;
      }
      parent.appendChild(document.createTextNode(text.slice(at, to)));
    }
    build(p, 0, text.length, sorted);
    var legend = document.createElement('ul'); legend.className = 'legend'; legend.id = 'legend';
    labels.forEach(function (l, i) {
      var li = document.createElement('li'); li.textContent = l; li.style.background = colour(i);
      var n = document.createElement('span'); n.className = 'n';
      n.textContent = String(entities.filter(function (e) { return e.label === l; }).length);
      li.appendChild(n); legend.appendChild(li);
    });
    var table = document.createElement('table'); table.id = 'entities';
    var head = table.insertRow(); ['text', 'label', 'score', 'start', 'end'].forEach(function (h) { var th = document.createElement('th'); th.textContent = h; head.appendChild(th); });
    entities.forEach(function (e) {
      var r = table.insertRow();
      [e.text, e.label, e.score.toFixed(3), e.start, e.end].forEach(function (v) { r.insertCell().textContent = String(v); });
    });
    out.appendChild(legend); out.appendChild(p); out.appendChild(table);
  }
  $('form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var text = $('text').value;
    var labels = $('labels').value.split(',').map(function (l) { return l.trim(); }).filter(Boolean);
    var body = { text: text, labels: labels, threshold: Number($('threshold').value), flatNer: !$('nested').checked, multiLabel: $('multi').checked };
    $('status').textContent = 'running...'; $('status').className = '';
    fetch(api + '/v1/entities', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
      .then(function (r) { return r.json().then(function (j) { if (!r.ok) throw new Error(j.error ? j.error.message : r.statusText); return j; }); })
      .then(function (j) { render(text, j.entities, labels.filter(function (l, i) { return labels.indexOf(l) === i; })); $('status').textContent = j.entities.length + ' entities'; })
      .catch(function (e) { $('status').textContent = 'error: ' + e.message; $('status').className = 'error'; });
  });
})();
`;

const sha256 = (s: string) => `'sha256-${createHash('sha256').update(s, 'utf8').digest('base64')}'`;

export interface DemoPage {
  html: string;
  /** Content-Security-Policy for the page: nothing but this script, this style and the API. */
  csp: string;
}

export function demoPage(maxLabels: number): DemoPage {
  const colors = JSON.stringify(Array.from({ length: Math.max(12, maxLabels) }, (_, i) => labelColor(i)));
  const examples = JSON.stringify(EXAMPLES).replace(/</g, '\\u003c');
  const html = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>GLiNER demo</title>
<style>${DEMO_STYLE}</style>
</head>
<body>
<h1>GLiNER: find entities of any type</h1>
<form id="form">
<textarea id="text" aria-label="text">${EXAMPLES[0].text}</textarea>
<label>Labels (comma-separated) <input type="text" id="labels" value="${EXAMPLES[0].labels}"></label>
<div class="row">
<label>Threshold <input type="range" id="threshold" min="0" max="1" step="0.05" value="0.5"> <span id="threshold-value">0.5</span></label>
<label><input type="radio" name="mode" id="flat" checked> flat</label>
<label><input type="radio" name="mode" id="nested"> nested</label>
<label><input type="checkbox" id="multi"> multi-label</label>
<button type="submit" id="run">Find entities</button>
<span id="status"></span>
</div>
<div class="row" id="examples-row">Examples: </div>
</form>
<div id="result"></div>
<script type="application/json" id="colors">${colors}</script>
<script type="application/json" id="examples">${examples}</script>
<script>${DEMO_SCRIPT}</script>
</body>
</html>
`;
  const csp = `default-src 'none'; script-src ${sha256(DEMO_SCRIPT)}; style-src ${sha256(DEMO_STYLE)}; connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'`;
  return { html, csp };
}
