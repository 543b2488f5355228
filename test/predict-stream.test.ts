/**
 * `gliner-tf predict` streams: input lines are bounded (FILE:LINE when one is too long, also after
 * gzip), groups are bounded by characters as well as count, results are written as they come and
 * --output appears only when complete. The big inputs are built here (a sparse 600 MB file, a
 * ~600 KB gzip of one 600 MB line); peak RSS of the child process is measured.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import * as readline from 'readline';
import { Readable } from 'stream';
import { spawnSync } from 'child_process';
import fc from 'fast-check';
import { readLines, InputLineError } from '../src/io/line-reader';
import { groupRecords, runPredictStream } from '../src/pipeline/predict-stream';
import { createResultWriter, formatResults, OUTPUT_FORMATS, ResultRecord } from '../src/output/formats';
import { referenceModelDirs } from './helpers/reference';
import { ROOT, cliInProcess } from './helpers/cli';

jest.setTimeout(300_000);
const MODEL = referenceModelDirs()[0];

async function collect(chunks: (string | Buffer)[], opts: { maxLineBytes?: number; gzip?: boolean } = {}) {
  const out: { text: string; lineNo: number }[] = [];
  for await (const l of readLines(Readable.from(chunks.map((c) => (typeof c === 'string' ? Buffer.from(c) : c))), { name: 'in.txt', ...opts })) out.push(l);
  return out;
}

/** `gliner-tf ARGS` in a child process; returns exit code, stderr and peak RSS in bytes. */
function cliWithRss(args: string[]): { code: number | null; stderr: string; maxRss: number } {
  const script = `const {main}=require('./tools/cli');main(${JSON.stringify(args)}).then((c)=>{process.stderr.write('\\nMAXRSS '+process.resourceUsage().maxRSS+'\\n');process.exit(c);});`;
  const r = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, GLINER_TF_BACKEND: 'wasm' } });
  const m = /MAXRSS (\d+)/.exec(r.stderr);
  return { code: r.status, stderr: r.stderr, maxRss: m ? Number(m[1]) * 1024 : NaN };
}

describe('bounded line reading', () => {
  test('splits on \\n, \\r\\n and \\r exactly as readline, whatever the chunking (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.constantFrom('a', 'é', '\n', '\r', '\r\n', 'xyz', ' '), { maxLength: 30 }), fc.array(fc.integer({ min: 1, max: 5 }), { maxLength: 10 }), async (parts, cuts) => {
        const text = parts.join('');
        const bytes = Buffer.from(text);
        const chunks: Buffer[] = [];
        let at = 0;
        for (const c of cuts) {
          if (at >= bytes.length) break;
          chunks.push(bytes.subarray(at, at + c));
          at += c;
        }
        if (at < bytes.length) chunks.push(bytes.subarray(at));
        const expected: string[] = [];
        for await (const l of readline.createInterface({ input: Readable.from([text]), crlfDelay: Infinity })) expected.push(l);
        const got = await collect(chunks);
        // (a multi-byte character cut between chunks is put back together)
        expect(got.map((l) => l.text)).toEqual(expected);
        expect(got.map((l) => l.lineNo)).toEqual(expected.map((_, i) => i + 1));
      }),
      { numRuns: 300 },
    );
  });

  test('a line over the limit is an error naming FILE:LINE, before it is held whole', async () => {
    const err = await collect(['ok\n', 'x'.repeat(600), 'y'.repeat(600), '\nafter\n'], { maxLineBytes: 1000 }).catch((e) => e);
    expect(err).toBeInstanceOf(InputLineError);
    expect(err.code).toBe('LINE_TOO_LONG');
    expect(err.message).toMatch(/^in\.txt:2: line longer than 1000 bytes/);
    expect((await collect(['a'.repeat(1000) + '\n'], { maxLineBytes: 1000 }))[0].text.length).toBe(1000);
  });

  test('truncated or corrupt gzip names the file', async () => {
    const gz = zlib.gzipSync(Buffer.from('one\ntwo\n'.repeat(1000)));
    const err = await collect([gz.subarray(0, gz.length - 20)], { gzip: true }).catch((e) => e);
    expect(err).toBeInstanceOf(InputLineError);
    expect(err.message).toMatch(/^in\.txt: not a valid gzip file, or truncated/);
    expect((await collect([gz], { gzip: true })).length).toBe(2000);
  });
});

describe('the streaming pipeline', () => {
  test('groups are bounded by count and by characters', async () => {
    const recs = ['aaaa', 'bb', 'cccccc', 'd', 'e', 'ffffffffff'].map((text) => ({ text }));
    const groups: string[][] = [];
    for await (const g of groupRecords(recs, { maxRecords: 1e9, maxChars: 7 })) groups.push(g.map((r) => r.text));
    expect(groups).toEqual([['aaaa', 'bb'], ['cccccc', 'd'], ['e'], ['ffffffffff']]);
    const byCount: number[] = [];
    for await (const g of groupRecords(recs, { maxRecords: 4, maxChars: 1e9 })) byCount.push(g.length);
    expect(byCount).toEqual([4, 2]);
  });

  test('a million records stream through with a bounded number held, results in order', async () => {
    let pulled = 0;
    let written = 0;
    let maxHeld = 0;
    async function* source() {
      for (let i = 0; i < 1_000_000; i++) {
        pulled++;
        maxHeld = Math.max(maxHeld, pulled - written);
        yield { text: `t${i}` };
      }
    }
    let out = '';
    let lastIndex = -1;
    const n = await runPredictStream({
      records: source(),
      limits: { maxRecords: 1_000_000_000, maxChars: 50_000 },
      predict: async (g) => g.map(() => []),
      writer: createResultWriter('jsonl'),
      concurrency: 2,
      write: async (t) => {
        const lines = t.split('\n').filter((l) => l);
        written += lines.length;
        const first = lines.length ? Number(JSON.parse(lines[0]).text.slice(1)) : lastIndex + 1;
        expect(first).toBe(lastIndex + 1);
        lastIndex += lines.length;
        if (t) out = t; // keep only the last piece
      },
    });
    expect(n).toBe(1_000_000);
    expect(written).toBe(1_000_000);
    expect(out).toContain('"t999999"');
    // two groups of at most 50,000 characters (~7,000 records each) in flight, plus one being filled
    expect(maxHeld).toBeLessThan(30_000);
  });

  test('writing piece by piece gives exactly formatResults of everything, for every format (property)', () => {
    const rec = fc.string({ maxLength: 20 }).map((text): ResultRecord => ({ text, entities: text.length > 1 ? [{ start: 0, end: 1, text: text[0], label: 'x', score: 0.5 }] : [] }));
    fc.assert(
      fc.property(fc.array(fc.array(rec, { maxLength: 4 }), { maxLength: 5 }), (groups) => {
        for (const format of OUTPUT_FORMATS) {
          const w = createResultWriter(format, { labels: ['x'] });
          const pieces = w.begin() + groups.map((g) => w.write(g)).join('') + w.end();
          expect(pieces).toBe(formatResults(groups.flat(), format, { labels: ['x'] }));
        }
      }),
      { numRuns: 100 },
    );
  });
});

describe('gliner-tf predict with hostile input', () => {
  let tmp: string;
  beforeAll(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gliner-pstream-'))));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test('a 600 MB file with no newline: exit 1 naming FILE:1, peak RSS well under the input size', () => {
    const big = path.join(tmp, 'big.txt');
    fs.closeSync(fs.openSync(big, 'w'));
    fs.truncateSync(big, 600 * 1024 * 1024); // sparse: 600 MB of NUL bytes, no newline, no disk used
    const r = cliWithRss(['predict', '--model', MODEL, '--labels', 'person', '--input', big, '--quiet']);
    fs.rmSync(big);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${big}:1: line longer than 16777216 bytes`);
    expect(r.stderr).not.toMatch(/RangeError|\n\s+at /);
    // stated bound: peak RSS below 3/4 of the input (the old reader held the whole line: >= 1x)
    expect(r.maxRss).toBeLessThan(0.75 * 600 * 1024 * 1024);
  });

  test('a ~600 KB .gz that expands to one 600 MB line: exit 1 naming the file, bounded RSS', async () => {
    const gz = path.join(tmp, 'bomb.txt.gz');
    const zero = Buffer.alloc(1 << 20, 0x61);
    await new Promise<void>((resolve, reject) => {
      const z = zlib.createGzip({ level: 9 });
      const f = fs.createWriteStream(gz);
      z.pipe(f).on('finish', resolve).on('error', reject);
      let i = 0;
      const pump = () => {
        while (i < 600) {
          i++;
          if (!z.write(zero)) return void z.once('drain', pump);
        }
        z.end();
      };
      pump();
    });
    const size = fs.statSync(gz).size;
    expect(size).toBeLessThan(1024 * 1024);
    const r = cliWithRss(['predict', '--model', MODEL, '--labels', 'person', '--input', gz, '--quiet']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${gz}:1: line longer than 16777216 bytes (after decompression)`);
    expect(r.maxRss).toBeLessThan(0.75 * 600 * 1024 * 1024);
  });

  test('gzip input works; "labels": [] names FILE:LINE; --batch-size 1e9 is bounded and gives the same results; --output is written whole', async () => {
    const lines = ['Alice met Bob in Paris.', 'Oslo is cold.', 'Kraków and Berlin.'];
    const gz = path.join(tmp, 'in.txt.gz');
    fs.writeFileSync(gz, zlib.gzipSync(lines.join('\n') + '\n'));
    const base = ['predict', '--model', MODEL, '--labels', 'person,city', '--threshold', '0.3', '--quiet'];
    const a = await cliInProcess([...base, '--input', gz]);
    expect(a.code).toBe(0);
    const plain = path.join(tmp, 'in.txt');
    fs.writeFileSync(plain, lines.join('\n') + '\n');
    const out = path.join(tmp, 'out.jsonl');
    const b = await cliInProcess([...base, '--input', plain, '--batch-size', '1000000000', '--output', out]);
    expect(b.code).toBe(0);
    expect(fs.readFileSync(out, 'utf8')).toBe(a.stdout);
    expect(a.stdout.trim().split('\n').map((l) => JSON.parse(l).text)).toEqual(lines);
    // no temporary file is left beside the output
    expect(fs.readdirSync(tmp).filter((n) => n.startsWith('out.jsonl'))).toEqual(['out.jsonl']);

    const jsonl = path.join(tmp, 'in.jsonl');
    fs.writeFileSync(jsonl, JSON.stringify({ text: 'a', labels: ['x'] }) + '\n' + JSON.stringify({ text: 'b', labels: [] }) + '\n');
    const out2 = path.join(tmp, 'out2.jsonl');
    const c = await cliInProcess([...base, '--input', jsonl, '--output', out2]);
    expect(c.code).toBe(1);
    expect(c.stderr).toContain(`${jsonl}:2: key "labels" is an empty list`);
    expect(fs.existsSync(out2)).toBe(false); // nothing half-written
    expect(fs.readdirSync(tmp).filter((n) => n.startsWith('out2.jsonl'))).toEqual([]);
  });
});
