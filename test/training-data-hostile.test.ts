/**
 * Hostile training files: a small .gz that inflates to one giant line, truncated gzip, CSV
 * syntax errors, empty ner_labels. Each fails with an error naming the file (and line).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { readTrainingFile, TrainingDataError } from '../src/training/data';

jest.setTimeout(120_000);

describe('hostile training files', () => {
  let tmp: string;
  beforeAll(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gliner-hdata-'))));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const rec = JSON.stringify({ tokenized_text: ['Alice', 'left'], ner: [[0, 0, 'person']] });

  test('a ~600 KB .gz that inflates to one 600 MB line fails at the record bound naming the file; memory stays bounded', async () => {
    const file = path.join(tmp, 'bomb.jsonl.gz');
    const z = zlib.createGzip({ level: 9 });
    const done = new Promise<void>((resolve, reject) => z.pipe(fs.createWriteStream(file)).on('finish', resolve).on('error', reject));
    z.write(rec + '\n' + '{"tokenized_text": ["');
    const mb = Buffer.alloc(1 << 20, 0x61);
    for (let i = 0; i < 600; i++) if (!z.write(mb)) await new Promise((r) => z.once('drain', r));
    z.end('"], "ner": []}\n');
    await done;
    expect(fs.statSync(file).size).toBeLessThan(1 << 20);
    const rss0 = process.memoryUsage().rss;
    let peak = rss0;
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    const err = await readTrainingFile(file).catch((e) => e);
    clearInterval(timer);
    expect(err).toBeInstanceOf(TrainingDataError);
    expect(err.message).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} line 2: a record longer than 33554432 characters \\(after decompression\\)`));
    // stated bound: growth under 1/3 of the inflated size (the bound itself is 32 Mi characters = 64 MB as UTF-16)
    expect(peak - rss0).toBeLessThan(200 * 1024 * 1024);
    // a lower bound is honoured too
    const small = path.join(tmp, 'long.jsonl');
    fs.writeFileSync(small, rec + '\n' + rec + '\n' + 'x'.repeat(5000) + '\n');
    await expect(readTrainingFile(small, { maxRecordChars: 3000 })).rejects.toThrow(`${small} line 3: a record longer than 3000 characters`);
    expect((await readTrainingFile(small, { maxRecordChars: 3000, limit: 2 })).examples.length).toBe(2);
  });

  test('truncated and corrupt gzip name the file', async () => {
    const gz = zlib.gzipSync(Buffer.from((rec + '\n').repeat(2000)));
    const truncated = path.join(tmp, 'trunc.jsonl.gz');
    fs.writeFileSync(truncated, gz.subarray(0, gz.length - 30));
    await expect(readTrainingFile(truncated)).rejects.toThrow(new RegExp(`^${truncated.replace(/[.]/g, '\\.')}: not a valid gzip file, or truncated`));
    const corrupt = path.join(tmp, 'corrupt.jsonl.gz');
    const bad = Buffer.from(gz);
    for (let i = 20; i < 60; i++) bad[i] ^= 0xff;
    fs.writeFileSync(corrupt, bad);
    const err = await readTrainingFile(corrupt).catch((e) => e);
    expect(err).toBeInstanceOf(TrainingDataError);
    expect(err.message.startsWith(corrupt)).toBe(true);
  });

  test('CSV syntax errors name the file and line, in the header and in the body', async () => {
    const header = path.join(tmp, 'badheader.csv');
    fs.writeFileSync(header, '"input"x,output\n"a","[]"\n');
    await expect(readTrainingFile(header)).rejects.toThrow(new RegExp(`^${header.replace(/[.]/g, '\\.')} line 1: unexpected "x,output`));
    const body = path.join(tmp, 'badbody.csv');
    fs.writeFileSync(body, 'input,output\n"Alice left","[\'Alice <> person\']"\n"Bob "x,"[]"\n');
    await expect(readTrainingFile(body)).rejects.toThrow(new RegExp(`^${body.replace(/[.]/g, '\\.')} line 3: unexpected "x`));
    const open = path.join(tmp, 'unterminated.csv');
    fs.writeFileSync(open, 'input,output\n"Alice,[]\n');
    await expect(readTrainingFile(open)).rejects.toThrow(new RegExp(`^${open.replace(/[.]/g, '\\.')} line 2: unterminated quoted field`));
  });

  test('"ner_labels": [] names FILE line N', async () => {
    const file = path.join(tmp, 'emptylabels.jsonl');
    fs.writeFileSync(file, rec + '\n' + JSON.stringify({ tokenized_text: ['x'], ner: [], ner_labels: [] }) + '\n');
    await expect(readTrainingFile(file)).rejects.toThrow(`${file} line 2: ner_labels: is an empty list`);
  });
});
