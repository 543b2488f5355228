/**
 * GLiNER.fromPretrained with hub ids, against a local HTTP server that answers as the hub does.
 * Two layouts: a repo that ships everything (current GLiNER), and a v2.1-style repo with no
 * tokenizer, no encoder config and an old config (no class_token_index / vocab_size) whose
 * tokenizer comes from the encoder repo named by model_name, GLiNER's tokens then being added.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { GLiNER } from '../src/gliner';
import { FakeHub, FakeFile, TINY_GLINER_DIR, fakeCommit, tinyGlinerFiles } from './helpers/fake-hub';

const file = (name: string, lfs = false): FakeFile => ({ content: fs.readFileSync(path.join(TINY_GLINER_DIR, name)), lfs });
const json = (value: unknown): FakeFile => ({ content: Buffer.from(JSON.stringify(value)), lfs: false });

describe('GLiNER.fromPretrained from the hub', () => {
  let hub: FakeHub;
  let cacheDir: string;
  let local: GLiNER;
  const text = 'Alice Martin visited Paris on 3 May 2021.';
  const labels = ['person', 'city', 'date'];

  beforeAll(async () => {
    hub = await FakeHub.start();
    cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gliner-hub-cache-'));
    hub.addCommit('test-org/tiny-gliner', fakeCommit('full'), tinyGlinerFiles());

    // The encoder repo: the SentencePiece model with [MASK] only, as microsoft/deberta-v3-* ship.
    const tokenizerConfig = JSON.parse(fs.readFileSync(path.join(TINY_GLINER_DIR, 'tokenizer_config.json'), 'utf8'));
    for (const id of Object.keys(tokenizerConfig.added_tokens_decoder)) if (Number(id) > 700) delete tokenizerConfig.added_tokens_decoder[id];
    hub.addCommit('test-org/tiny-deberta', fakeCommit('encoder'), {
      'config.json': file('config.json'),
      'spm.model': file('spm.model', true),
      'tokenizer_config.json': json(tokenizerConfig),
      'special_tokens_map.json': file('special_tokens_map.json'),
    });
    // The GLiNER 0.1.x layout: gliner_config.json without encoder_config / class_token_index / vocab_size.
    const old = JSON.parse(fs.readFileSync(path.join(TINY_GLINER_DIR, 'gliner_config.json'), 'utf8'));
    for (const k of ['encoder_config', 'class_token_index', 'vocab_size', 'model_type']) delete old[k];
    old.model_name = 'test-org/tiny-deberta';
    hub.addCommit('test-org/tiny-gliner-v21', fakeCommit('v21'), {
      'gliner_config.json': json(old),
      'pytorch_model.bin': file('pytorch_model.bin', true),
    });
    local = await GLiNER.fromPretrained(TINY_GLINER_DIR);
  });

  afterAll(async () => {
    local.dispose();
    await hub.close();
    fs.rmSync(cacheDir, { recursive: true, force: true });
  });

  const opts = () => ({ endpoint: hub.endpoint, cacheDir, quiet: true, retryDelayMs: 1 });

  test('a full repo downloads into the cache and predicts as the local folder', async () => {
    const m = await GLiNER.fromPretrained('test-org/tiny-gliner', opts());
    try {
      expect(await m.predictEntities(text, labels, { threshold: 0.3 })).toEqual(await local.predictEntities(text, labels, { threshold: 0.3 }));
      expect(fs.existsSync(path.join(cacheDir, 'models--test-org--tiny-gliner', 'refs', 'main'))).toBe(true);
    } finally {
      m.dispose();
    }
    // Second load: served from the cache, no file is fetched again.
    hub.clearRequests();
    const again = await GLiNER.fromPretrained('test-org/tiny-gliner', { ...opts(), localFilesOnly: true });
    again.dispose();
    expect(hub.count({ method: 'GET' })).toBe(0);
  });

  test('a v2.1-style repo takes its tokenizer and encoder config from model_name and adds GLiNER tokens', async () => {
    const m = await GLiNER.fromPretrained('test-org/tiny-gliner-v21', opts());
    try {
      expect(m.config.classTokenIndex).toBe(local.config.classTokenIndex);
      expect(m.tokenizer.tokenToId('<<ENT>>')).toBe(local.tokenizer.tokenToId('<<ENT>>'));
      expect(m.tokenizer.tokenToId('<<SEP>>')).toBe(local.tokenizer.tokenToId('<<SEP>>'));
      expect(await m.predictEntities(text, labels, { threshold: 0.3 })).toEqual(await local.predictEntities(text, labels, { threshold: 0.3 }));
    } finally {
      m.dispose();
    }
  });

  test('offline with an empty cache fails naming the repo; unknown repos and ids say so', async () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'gliner-hub-empty-'));
    try {
      await expect(GLiNER.fromPretrained('test-org/tiny-gliner', { ...opts(), cacheDir: empty, localFilesOnly: true })).rejects.toThrow(/test-org\/tiny-gliner/);
      await expect(GLiNER.fromPretrained('test-org/nope', opts())).rejects.toThrow(/test-org\/nope/);
      await expect(GLiNER.fromPretrained('./not/a/folder', opts())).rejects.toThrow(/no such model folder/);
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });
});
