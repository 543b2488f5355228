/**
 * The `gliner-tf` command line, run as a user runs it (a child process), on a fixture model.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { GLiNER } from '../src/gliner';
import { REFERENCE_ROOT, referenceModelDirs } from './helpers/reference';
import { expectSameEntities } from './helpers/entities';
import { runCli } from './helpers/cli';

const MODEL = referenceModelDirs()[0];

/** The CLI from source, in a child process, so the test never sees a stale build. */
const cli = (args: string[], input?: string) => runCli(args, { input });

const parseLines = (s: string) => s.trim().split('\n').map((l) => JSON.parse(l));

describe('gliner-tf predict', () => {
  let tmp: string;
  let model: GLiNER;
  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gliner-cli-'));
    model = await GLiNER.fromPretrained(MODEL, { backend: 'wasm' });
  });
  afterAll(() => {
    model.dispose();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('--text prints one JSON line equal to the API result', async () => {
    const text = 'Alice Martin visited Paris on 3 May 2021.';
    const r = cli(['predict', '--model', MODEL, '--labels', 'person, city,date', '--text', text, '--threshold', '0.3', '--nested']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [line] = parseLines(r.stdout);
    expect(line.text).toBe(text);
    const expected = await model.predictEntities(text, ['person', 'city', 'date'], { threshold: 0.3, flatNer: false });
    expect(expected.length).toBeGreaterThan(0);
    expect(line.entities).toEqual(expected);
  });

  test('--input with plain lines and with JSONL (per-line labels), --output written whole', async () => {
    const plain = path.join(tmp, 'texts.txt');
    fs.writeFileSync(plain, 'Bob Chen moved to Tokyo.\n\nMarie Curie worked in Paris.\n');
    const out = path.join(tmp, 'out.jsonl');
    const r = cli(['predict', '--model', MODEL, '--labels', 'person,city', '--input', plain, '--output', out, '--threshold', '0.4']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    const lines = parseLines(fs.readFileSync(out, 'utf8'));
    expect(lines.map((l) => l.text)).toEqual(['Bob Chen moved to Tokyo.', '', 'Marie Curie worked in Paris.']);
    expect(lines[1].entities).toEqual([]);
    expectSameEntities(lines[2].entities, await model.predictEntities(lines[2].text, ['person', 'city'], { threshold: 0.4 }));

    const jsonl = path.join(tmp, 'texts.jsonl');
    fs.writeFileSync(jsonl, [JSON.stringify({ text: 'Toyota signed with Juventus.', labels: ['organization'] }), JSON.stringify({ text: 'Ada Lovelace' })].join('\n'));
    const j = cli(['predict', '--model', MODEL, '--labels', 'person', '--input', jsonl, '--multi-label', '--threshold', '0.2']);
    expect(j.code).toBe(0);
    const [a, b] = parseLines(j.stdout);
    expectSameEntities(a.entities, await model.predictEntities(a.text, ['organization'], { threshold: 0.2, multiLabel: true }));
    expectSameEntities(b.entities, await model.predictEntities(b.text, ['person'], { threshold: 0.2, multiLabel: true }));
    expect(new Set(a.entities.map((e: { label: string }) => e.label))).toEqual(new Set(a.entities.length ? ['organization'] : []));
  });

  test('reads standard input with --input -', () => {
    const r = cli(['predict', '--model', MODEL, '--labels', 'city', '--input', '-'], 'Oslo\nKraków\n');
    expect(r.code).toBe(0);
    expect(parseLines(r.stdout).map((l) => l.text)).toEqual(['Oslo', 'Kraków']);
  });

  test('usage errors exit 2 and name the option; runtime errors exit 1 and name the file', () => {
    const noLabels = cli(['predict', '--model', MODEL, '--text', 'x']);
    expect(noLabels.code).toBe(2);
    expect(noLabels.stderr).toMatch(/--labels is required with --text/);
    const unlabelled = path.join(tmp, 'unlabelled.txt');
    fs.writeFileSync(unlabelled, 'Oslo\n');
    const noLabelsFile = cli(['predict', '--model', MODEL, '--input', unlabelled]);
    expect(noLabelsFile.code).toBe(2);
    expect(noLabelsFile.stderr).toMatch(/text 1 has no labels/);
    const badThr = cli(['predict', '--model', MODEL, '--labels', 'a', '--text', 'x', '--threshold', '1.5']);
    expect(badThr.code).toBe(2);
    expect(badThr.stderr).toMatch(/--threshold must be a number in \[0, 1\], got '1.5'/);
    const both = cli(['predict', '--model', MODEL, '--labels', 'a']);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/exactly one of --text or --input/);
    const unknown = cli(['predict', '--modle', MODEL]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/--modle/);
    const missing = cli(['predict', '--model', path.join(tmp, 'nope'), '--labels', 'a', '--text', 'x']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/nope: no such model folder/);
    const badLine = path.join(tmp, 'bad.jsonl');
    fs.writeFileSync(badLine, '{"text": "ok"}\n{"text": 3}\n');
    const bad = cli(['predict', '--model', MODEL, '--labels', 'a', '--input', badLine]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(`${badLine}:2: key "text" must be a string`);
  });

  test('--format json / conll / spacy / html, and a bad format is a usage error', () => {
    const input = path.join(tmp, 'fmt.txt');
    fs.writeFileSync(input, 'Alice Martin visited Paris.\nBob Chen moved to Tokyo.\n');
    const base = ['predict', '--model', MODEL, '--labels', 'person,city', '--input', input, '--threshold', '0.3'];
    const json = cli([...base, '--format', 'json']);
    expect(json.code).toBe(0);
    const arr = JSON.parse(json.stdout);
    expect(arr.map((r: { text: string }) => r.text)).toEqual(['Alice Martin visited Paris.', 'Bob Chen moved to Tokyo.']);
    const conll = cli([...base, '--format', 'conll']);
    expect(conll.code).toBe(0);
    const lines = conll.stdout.split('\n');
    expect(lines[0]).toMatch(/^Alice\t(O|[BI]-(person|city))$/);
    expect(lines.filter((l) => l === '').length).toBeGreaterThanOrEqual(2);
    const spacy = cli([...base, '--format', 'spacy']);
    expect(parseLines(spacy.stdout)[1].text).toBe('Bob Chen moved to Tokyo.');
    const out = path.join(tmp, 'page.html');
    const html = cli([...base, '--format', 'html', '--output', out]);
    expect(html.code).toBe(0);
    const page = fs.readFileSync(out, 'utf8');
    expect(page).toMatch(/^<!DOCTYPE html>/i);
    expect(page).toContain('person');
    expect(page).toContain('Bob Chen moved to Tokyo.'.split(' ')[2]);
    const bad = cli([...base, '--format', 'xml']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--format must be one of jsonl, json, conll, spacy, html, got 'xml'/);
  });

  test('--merge-adjacent joins touching entities of one label, as the API option does', async () => {
    const dir = path.join(REFERENCE_ROOT, 'tiny_marker_w1'); // word-level (max_width 1), like NuNER Zero
    const text = 'Alice Martin visited Paris on 3 May 2021 with Bob Chen.';
    const labels = ['person', 'city', 'date'];
    const w1 = await GLiNER.fromPretrained(dir, { backend: 'wasm' });
    try {
      const merged = await w1.predictEntities(text, labels, { threshold: 0.3, mergeAdjacent: true });
      const plain = await w1.predictEntities(text, labels, { threshold: 0.3 });
      expect(merged.length).toBeLessThan(plain.length); // this text does have touching same-label words
      const r = cli(['predict', '--model', dir, '--labels', labels.join(','), '--text', text, '--threshold', '0.3', '--merge-adjacent']);
      expect(r.code).toBe(0);
      expect(parseLines(r.stdout)[0].entities).toEqual(merged);
    } finally {
      w1.dispose();
    }
  });

  test('--help documents every option', () => {
    const r = cli(['predict', '--help']);
    expect(r.code).toBe(0);
    for (const opt of ['--model', '--labels', '--text', '--input', '--threshold', '--nested', '--multi-label', '--merge-adjacent', '--batch-size', '--output', '--backend']) {
      expect(r.stdout).toContain(opt);
    }
    const top = cli(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toContain('predict');
  });
});
