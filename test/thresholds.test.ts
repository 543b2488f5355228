/**
 * Per-label and dynamic thresholds, and `gliner-tf calibrate`: on a dev set where one label's
 * scores are systematically low (the demo model learnt "organization"; the data calls the type
 * "company"), per-label thresholds raise dev F1; `predict --thresholds` applies them.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { GLiNER } from '../src/gliner';
import { initBackend } from '../src/backend';
import { Span } from '../src/decoding';
import { filterCandidates } from '../src/thresholds';
import { normalizeGlinerRecord } from '../src/training/data';
import { calibrateThresholds, collectCandidates, scoreSetting } from '../src/training/calibrate';
import { evaluateExamples } from '../src/training/evaluate';
import { readThresholdsFile } from '../src/io/thresholds-file';
import { runCli } from './helpers/cli';
import { SyntheticRecord, syntheticNer } from './helpers/synthetic-ner';

const DEMO = path.join(__dirname, '..', 'fixtures', 'models', 'demo');
const rename = (r: SyntheticRecord): SyntheticRecord => ({ ...r, ner: r.ner.map(([s, e, l]) => [s, e, l === 'organization' ? 'company' : l]) });

describe('filterCandidates', () => {
  // scores are float32 values, as the model's are
  const c = (start: number, classIndex: number, score: number): Span => ({ start, end: start, classIndex, score: Math.fround(score) });
  const cands = [c(0, 0, 0.9), c(1, 0, 0.5), c(2, 1, 0.3), c(3, 1, 0.2), c(4, 0, 0.45), c(5, 1, 0.12)];
  const labels = ['person', 'company'];
  it('per-label thresholds, others fall back to the global one (strictly above)', () => {
    expect(filterCandidates(cands, labels, { threshold: 0.45, thresholds: { company: 0.15 } })).toEqual([cands[0], cands[1], cands[2], cands[3]]);
  });
  it('relative: >= r x the best of the label in the text', () => {
    // person: best 0.9, cut 0.54; company: best 0.3, cut 0.18
    expect(filterCandidates(cands, labels, { threshold: 0.1, relativeThreshold: 0.6 })).toEqual([cands[0], cands[2], cands[3]]);
  });
  it('top-k per label, in candidate order', () => {
    expect(filterCandidates(cands, labels, { threshold: 0, topK: 1 })).toEqual([cands[0], cands[2]]);
    expect(filterCandidates(cands, labels, { threshold: 0, topK: 2 })).toEqual([cands[0], cands[1], cands[2], cands[3]]);
  });
});

let tmp: string;
let model: GLiNER;
beforeAll(async () => {
  await initBackend('wasm');
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gliner-thr-'));
  model = await GLiNER.fromPretrained(DEMO, { backend: 'wasm' });
});
afterAll(() => {
  model.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('per-label thresholds raise dev F1 where one label scores low; the held-out test split gains too', async () => {
  const dev = syntheticNer(150, 'heldout', 7).map((r) => normalizeGlinerRecord(rename(r)));
  const test = syntheticNer(150, 'heldout', 8).map((r) => normalizeGlinerRecord(rename(r)));
  const r = calibrateThresholds(await collectCandidates(model, dev));
  // decoding the collected candidates is what prediction does
  expect(scoreSetting(await collectCandidates(model, dev), { threshold: 0.5 }).f1).toBe((await evaluateExamples(model, dev, { threshold: 0.5 })).f1);
  const testBefore = (await evaluateExamples(model, test, { threshold: 0.5 })).f1;
  const testSet = await collectCandidates(model, test);
  const testAfter = scoreSetting(testSet, { threshold: r.threshold, thresholds: r.thresholds }).f1;
  const testGlobal = scoreSetting(testSet, { threshold: r.threshold }).f1;
  console.log(
    `calibration: dev F1 ${r.before.f1.toFixed(4)} (0.5) -> ${r.globalOnly.f1.toFixed(4)} (global ${r.threshold}) -> ${r.after.f1.toFixed(4)} (per label ${JSON.stringify(r.thresholds)}); ` +
      `company F1 ${r.before.perLabel.company.toFixed(4)} -> ${r.after.perLabel.company.toFixed(4)}; ` +
      `test split F1 ${testBefore.toFixed(4)} -> ${testGlobal.toFixed(4)} (global) -> ${testAfter.toFixed(4)} (per label)\n` +
      `dynamic on dev: ${r.dynamic.map((d) => `${d.setting}: ${d.f1.toFixed(4)}`).join('; ')}`,
  );
  expect(r.before.perLabel.company).toBeLessThan(0.5); // the low-scoring label
  expect(r.thresholds.company).toBeLessThan(0.5);
  expect(r.after.f1).toBeGreaterThan(r.before.f1 + 0.02);
  expect(r.after.f1).toBeGreaterThanOrEqual(r.globalOnly.f1);
  expect(r.after.perLabel.company).toBeGreaterThan(r.before.perLabel.company);
  expect(testAfter).toBeGreaterThan(testBefore);
}, 300_000);

test('gliner-tf calibrate writes thresholds.json; predict --thresholds (and the API option) use them', async () => {
  const devFile = path.join(tmp, 'dev.jsonl');
  fs.writeFileSync(devFile, syntheticNer(60, 'heldout', 7).map((r) => JSON.stringify(rename(r))).join('\n') + '\n');
  const out = path.join(tmp, 'thresholds.json');
  const cal = runCli(['calibrate', '--model', DEMO, '--data', devFile, '--output', out]);
  expect(cal.code).toBe(0);
  console.log(`gliner-tf calibrate output:\n${cal.stdout}`);
  expect(cal.stdout).toMatch(/F1 before \(threshold 0\.5\): [\d.]+%/);
  expect(cal.stdout).toMatch(/F1 after \(per-label thresholds\): [\d.]+%/);
  const file = readThresholdsFile(out);
  expect(Object.keys(file.thresholds).sort()).toEqual(['city', 'company', 'date', 'person']);
  const report = JSON.parse(fs.readFileSync(out, 'utf8')).calibration;
  expect(report.after.f1).toBeGreaterThan(report.before.f1);

  const text = 'Kalo Dorvasel joined Tavosel Labs in Mirenburg on 4 May 2021.';
  const labels = ['person', 'company', 'city', 'date'];
  const pred = runCli(['predict', '--model', DEMO, '--labels', labels.join(','), '--thresholds', out, '--text', text, '--quiet']);
  expect(pred.code).toBe(0);
  const viaCli = JSON.parse(pred.stdout).entities;
  const viaApi = await model.predictEntities(text, labels, { threshold: file.threshold, thresholds: file.thresholds });
  expect(viaCli).toEqual(viaApi);
  expect(viaApi.some((e) => e.label === 'company' && e.text === 'Tavosel Labs')).toBe(true);

  fs.writeFileSync(path.join(tmp, 'bad.json'), '{"thresholds": {"person": 2}}');
  const bad = runCli(['predict', '--model', DEMO, '--labels', 'person', '--thresholds', path.join(tmp, 'bad.json'), '--text', text]);
  expect(bad.code).toBe(1);
  expect(bad.stderr).toContain('bad.json.thresholds.person must be a number in [0, 1], got 2');
  await expect(model.predictEntities(text, labels, { topK: 0 })).rejects.toThrow(/topK must be a positive integer/);
}, 300_000);
