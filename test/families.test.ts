/**
 * Published GLiNER families: the table (sizes, configs, parameter counts against the published
 * checkpoint sizes), parameter shapes without allocation, old-style configs, and random-weight
 * models at full size loaded through GLiNER.fromPretrained and run end to end.
 *
 * Full-size models in CI: gliner_small-v2.1 (153M parameters, 611 MB) and gliner_multi-v2.1
 * (289M, 1.16 GB): both encoder vocabularies (DeBERTa-v3 128k, mDeBERTa 250k). medium and large
 * (780 MB, 1.78 GB) run only with GLINER_TF_SLOW=1 (see docs/families.md for timings).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseGlinerConfig } from '../src/config';
import {
  ConfigStyle, ENCODERS, FAMILIES, buildFamilyConfig, countParameters, familyGlinerConfig, familyNames, familyParameterCount, getFamily,
  glinerParameterShapes, matchFamily,
} from '../src/families';
import { GLiNER } from '../src/gliner';
import { readGlinerConfig } from '../src/io/model-dir';
import { GlinerModel } from '../src/model';
import { makeRandomModel, randomParameter, runMakeRandomModel } from '../tools/make-random-model';
import { UsageError } from '../tools/cli-args';
import { collectModelInfo } from '../tools/info-command';
import { REFERENCE_ROOT } from './helpers/reference';

const FIXTURE = path.join(REFERENCE_ROOT, 'tiny_buckets256');
const SLOW = process.env.GLINER_TF_SLOW === '1';

/** Parameter counts per architecture (computed by hand from the layer sizes in docs/families.md). */
const EXPECTED_PARAMS: Record<string, number> = {
  small: 152_648_704,
  medium: 195_175_936,
  large: 445_463_040,
  multi: 288_949_504,
  // marker head at D = 768 (no projection): LSTM 3,545,088 + project_start/end 2 x 2,361,600 +
  // out_project 1,180,416 + prompt FFN 4,722,432 on the 277,531,392-parameter mDeBERTa.
  'multi-v0': 291_702_528,
  // deberta-v3-base (183,757,824) + the same marker head at D = 768.
  'base-v0': 197_928_960,
  // deberta-v3-large (433,913,856) + projection 1024 -> 768 (787,200) + LSTM 3,545,088 + marker
  // head at D = 768 (4,723,200 + 1,180,416) + prompt FFN 4,722,432; max_width does not change shapes.
  'nuner-zero': 448_872_192,
};

/**
 * pytorch_model.bin sizes of published checkpoints (Git LFS pointers on the Hub). A torch.save
 * zip adds well under 250 kB to 4 bytes per float32 parameter.
 */
const PUBLISHED_BIN_BYTES: [family: string, bytes: number, where: string][] = [
  ['gliner_medium-v1', 780_806_090, 'urchade/gliner_medium-v1 commit 84f58be'],
  ['gliner_large-v2.1', 1_782_044_554, 'urchade/gliner_large-v2.1 commit 59f63b5'],
  ['gliner_multi-v2.1', 1_155_900_362, 'urchade/gliner_multi-v2.1 commit afda120'],
  ['gliner_small-v2.1', 610_652_234, 'placingholocaust/gliner_small-v2.1-holocaust (a fine-tune of it)'],
];

describe('family table', () => {
  test('every supported family has its architecture class parameter count', () => {
    for (const f of FAMILIES.filter((x) => x.supported)) {
      expect({ family: f.name, params: familyParameterCount(f.name) }).toEqual({ family: f.name, params: EXPECTED_PARAMS[f.size] });
    }
  });

  test.each(PUBLISHED_BIN_BYTES)('%s: parameter count matches the published checkpoint size (%d bytes, %s)', (family, bytes) => {
    const overhead = bytes - 4 * familyParameterCount(family);
    expect(overhead).toBeGreaterThan(0);
    expect(overhead).toBeLessThan(250_000);
  });

  test('published style reproduces the repo config exactly (urchade/gliner_large-v2.1, commit 59f63b5)', () => {
    expect(buildFamilyConfig('gliner_large-v2.1', { style: 'published' })).toEqual({
      glinerConfig: {
        size_sup: -1, max_types: 25, shuffle_types: true, random_drop: true, max_neg_type_ratio: 1, max_len: 384,
        lr_encoder: '1e-5', lr_others: '5e-5', num_steps: 30000, warmup_ratio: 3000, train_batch_size: 8, eval_every: 5000,
        max_width: 12, model_name: 'microsoft/deberta-v3-large', fine_tune: true, subtoken_pooling: 'first', hidden_size: 512,
        span_mode: 'markerV0', dropout: 0.4, name: 'correct',
      },
      encoderConfig: expect.objectContaining({ vocab_size: 128100, hidden_size: 1024, num_hidden_layers: 24, num_attention_heads: 16 }),
    });
    expect(buildFamilyConfig('gliner_medium-v1', { style: 'published' }).glinerConfig.dropout).toBe(0.0);
    expect(buildFamilyConfig('gliner_multi-v2.1', { style: 'published' }).encoderConfig.vocab_size).toBe(251000);
  });

  test('current style: resized vocabulary, class token, embedded encoder config', () => {
    const { glinerConfig, encoderConfig } = buildFamilyConfig('gliner_multi-v2.1');
    expect(glinerConfig).toMatchObject({
      model_type: 'gliner_uni_encoder_span',
      model_name: 'microsoft/mdeberta-v3-base',
      vocab_size: 250105,
      class_token_index: 250103,
      hidden_size: 512,
      encoder_config: expect.objectContaining({ vocab_size: 250105, position_buckets: 256 }),
    });
    expect(encoderConfig.vocab_size).toBe(250105);
    const c = familyGlinerConfig('gliner_small-v2.1');
    expect([c.encoder.numHiddenLayers, c.encoder.hiddenSize, c.encoder.vocabSize, c.hiddenSize, c.classTokenIndex]).toEqual([6, 768, 128004, 512, 128002]);
    // The generated file parses back to the same config (what fromPretrained will see).
    expect(parseGlinerConfig(buildFamilyConfig('gliner_small-v2.1').glinerConfig, 'x').encoder).toEqual(c.encoder);
  });

  test('gliner_multi (v0): span_mode marker, GLiNER width 768 = encoder width (no projection)', () => {
    const f = getFamily('urchade/gliner_multi');
    expect([f.supported, f.spanMode, f.hiddenSize]).toEqual([true, 'marker', 768]);
    const c = familyGlinerConfig('gliner_multi');
    expect([c.spanMode, c.modelType, c.hiddenSize, c.encoder.hiddenSize]).toEqual(['marker', 'gliner_uni_encoder_span', 768, 768]);
    const names = glinerParameterShapes(c).map(([n]) => n);
    expect(names).not.toContain('token_rep_layer.projection.weight');
    expect(names).toContain('span_rep_layer.span_rep_layer.out_project.weight');
    expect(names).not.toContain('span_rep_layer.span_rep_layer.out_project.0.weight');
  });

  test('token_level at full size: scorer.* instead of span_rep_layer / prompt_rep_layer, counted by hand', () => {
    const raw = { ...buildFamilyConfig('gliner_small-v2.1').glinerConfig, span_mode: 'token_level', model_type: 'gliner_uni_encoder_token' };
    const shapes = glinerParameterShapes(parseGlinerConfig(raw, 'token'));
    const head = shapes.filter(([n]) => !n.startsWith('token_rep_layer.') && !n.startsWith('rnn.'));
    expect(head).toEqual([
      ['scorer.proj_token.weight', [1024, 512]], ['scorer.proj_token.bias', [1024]],
      ['scorer.proj_label.weight', [1024, 512]], ['scorer.proj_label.bias', [1024]],
      ['scorer.out_mlp.0.weight', [2048, 1536]], ['scorer.out_mlp.0.bias', [2048]],
      ['scorer.out_mlp.3.weight', [3, 2048]], ['scorer.out_mlp.3.bias', [3]],
    ]);
    // 141,230,592 (deberta-v3-small) + 393,728 projection + 1,576,960 LSTM + 4,204,547 scorer.
    expect(countParameters(shapes)).toBe(147_405_827);
    expect(() => parseGlinerConfig({ ...raw, model_type: 'gliner_uni_encoder_span' }, 'bad')).toThrow(/model_type 'gliner_uni_encoder_span' does not match span_mode 'token_level'/);
  });

  test('NuNER_Zero: a marker model of max_width 1 with a 1024 -> 768 projection', () => {
    const c = familyGlinerConfig('numind/NuNER_Zero');
    expect([c.spanMode, c.maxWidth, c.hiddenSize, c.encoder.hiddenSize]).toEqual(['marker', 1, 768, 1024]);
    expect(glinerParameterShapes(c).find(([n]) => n === 'token_rep_layer.projection.weight')![1]).toEqual([768, 1024]);
    expect(matchFamily(c)!.families).toEqual(['NuNER_Zero', 'NuNER_Zero-span']);
  });

  test('unknown names list the known ones', () => {
    expect(() => getFamily('gliner_huge')).toThrow(/unknown GLiNER family 'gliner_huge' \(known: gliner_small-v1, .*gliner_multi_pii-v1\)/);
    expect(familyNames()).toHaveLength(15);
  });

  test('matchFamily recognises every family, in both config styles, and nothing else', () => {
    for (const f of FAMILIES.filter((x) => x.supported)) {
      const current = matchFamily(familyGlinerConfig(f.name));
      expect(current).toMatchObject({ size: f.size, encoder: f.encoder, exactVocab: true });
      expect(current!.families).toContain(f.name);
      const files = buildFamilyConfig(f.name, { style: 'published' });
      const published = matchFamily(parseGlinerConfig(files.glinerConfig, f.name, files.encoderConfig));
      expect(published).toMatchObject({ size: f.size, exactVocab: false });
    }
    expect(matchFamily(familyGlinerConfig('gliner_medium-v2'))!.families).toEqual(['gliner_medium-v1', 'gliner_medium-v2', 'gliner_medium-v2.1']);
    expect(matchFamily(readGlinerConfig(FIXTURE))).toBeNull();
  });

  test('encoder table', () => {
    expect(Object.values(ENCODERS).map((e) => [e.id, e.layers, e.hidden, e.heads, e.intermediate, e.configVocab])).toEqual([
      ['microsoft/deberta-v3-small', 6, 768, 12, 3072, 128100],
      ['microsoft/deberta-v3-base', 12, 768, 12, 3072, 128100],
      ['microsoft/deberta-v3-large', 24, 1024, 16, 4096, 128100],
      ['microsoft/mdeberta-v3-base', 12, 768, 12, 3072, 251000],
    ]);
  });
});

describe('parameter shapes without building the model', () => {
  const fixtureRaw = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'gliner_config.json'), 'utf8'));

  function variant(patch: Record<string, unknown>, encoderPatch: Record<string, unknown> = {}) {
    return parseGlinerConfig({ ...fixtureRaw, ...patch, encoder_config: { ...fixtureRaw.encoder_config, ...encoderPatch } }, 'variant');
  }

  test.each([
    ['the reference fixture', variant({})],
    ['no projection (GLiNER width = encoder width), no LSTM', variant({ hidden_size: 32, num_rnn_layers: 0 })],
    ['absolute positions, token types, embedding projection', variant({}, { position_biased_input: true, type_vocab_size: 2, embedding_size: 16 })],
    ['no relative-embedding LayerNorm, max_relative_positions instead of buckets', variant({}, { norm_rel_ebd: 'none', position_buckets: -1, max_relative_positions: 64 })],
  ])('%s: same names, order and stored shapes as GlinerModel.namedParameters()', (_, config) => {
    const model = new GlinerModel(config);
    try {
      const fromModel = model.namedParameters().map(([name, p]) => [name, p.layout.storedShape]);
      expect(glinerParameterShapes(config)).toEqual(fromModel);
    } finally {
      model.dispose();
    }
  });
});

describe('random weights', () => {
  test('seeded, per tensor, LayerNorm weights 1, biases 0, std about 0.02', () => {
    const a = randomParameter('x.weight', [100, 100], 7);
    expect(randomParameter('x.weight', [100, 100], 7)).toEqual(a);
    expect(randomParameter('x.weight', [100, 100], 8)).not.toEqual(a);
    expect(randomParameter('y.weight', [100, 100], 7)).not.toEqual(a);
    let sq = 0;
    for (const v of a) sq += v * v;
    expect(Math.sqrt(sq / a.length)).toBeCloseTo(0.02, 3);
    expect([...randomParameter('e.LayerNorm.weight', [3], 1)]).toEqual([1, 1, 1]);
    expect([...randomParameter('e.LayerNorm.bias', [2], 1)]).toEqual([0, 0]);
    expect([...randomParameter('rnn.lstm.bias_hh_l0_reverse', [2], 1)]).toEqual([0, 0]);
  });
});

describe('make-random-model command line', () => {
  async function run(argv: string[]): Promise<string> {
    let out = '';
    await runMakeRandomModel(argv, (s) => (out += s));
    return out;
  }

  test('--list shows every family with its size; --help', async () => {
    const list = await run(['--list']);
    expect(list).toMatch(/^gliner_small-v1\s+152\.6M parameters$/m);
    expect(list).toMatch(/^gliner_large-v2\.1\s+445\.5M parameters$/m);
    expect(list).toMatch(/^gliner_multi-v2\.1\s+288\.9M parameters$/m);
    expect(list).toMatch(/^gliner_multi\s+291\.7M parameters$/m);
    expect(await run(['--help'])).toMatch(/^Usage: ts-node tools\/make-random-model\.ts --family NAME --output DIR/);
  });

  test('usage errors name the option', async () => {
    await expect(run(['--output', '/tmp/x'])).rejects.toThrow(new UsageError('--family is required'));
    await expect(run(['--family', 'gliner_huge', '--output', '/tmp/x'])).rejects.toThrow(/--family must be one of gliner_small-v1, /);
    await expect(run(['--family', 'gliner_small-v1', '--output', '/tmp/x', '--style', 'old'])).rejects.toThrow(/--style must be 'current' or 'published'/);
    await expect(run(['--family', 'gliner_small-v1', '--output', '/tmp/x', '--seed', '1.5'])).rejects.toThrow(/--seed must be an integer in \[0, 2\^32\), got '1.5'/);
    await expect(run(['--family', 'gliner_small-v1'])).rejects.toThrow(/--output is required/);
  });

  test('refuses a non-empty folder without --force', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gliner-nonempty-'));
    try {
      fs.writeFileSync(path.join(dir, 'keep.txt'), 'x');
      await expect(makeRandomModel({ family: 'gliner_small-v1', outDir: dir })).rejects.toThrow(`${dir}: folder is not empty`);
      expect(fs.readdirSync(dir)).toEqual(['keep.txt']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('old-style (published v1/v2/v2.1) configs', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gliner-oldcfg-'));
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  /** The fixture folder with gliner_config.json rewritten as the urchade repos publish it. */
  function oldStyleCopy(name: string, encoderPatch: Record<string, unknown> = {}): string {
    const dir = path.join(tmp, name);
    fs.mkdirSync(dir);
    for (const f of ['model.safetensors', 'spm.model', 'added_tokens.json', 'tokenizer_config.json', 'special_tokens_map.json']) {
      fs.copyFileSync(path.join(FIXTURE, f), path.join(dir, f));
    }
    const published = buildFamilyConfig('gliner_small-v2.1', { style: 'published' }).glinerConfig;
    // Same keys as the published file; only the width differs (the fixture is tiny).
    fs.writeFileSync(path.join(dir, 'gliner_config.json'), JSON.stringify({ ...published, hidden_size: 24, dropout: 0 }));
    const enc = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'config.json'), 'utf8'));
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...enc, ...encoderPatch }));
    return dir;
  }

  test('no model_type / encoder_config / vocab_size / class_token_index: upstream defaults, same predictions', async () => {
    const dir = oldStyleCopy('v1');
    const config = readGlinerConfig(dir);
    expect([config.modelType, config.vocabSize, config.classTokenIndex, config.entToken, config.sepToken, config.numRnnLayers]).toEqual([
      'gliner_uni_encoder_span', -1, -1, '<<ENT>>', '<<SEP>>', 1,
    ]);
    const oldStyle = await GLiNER.fromPretrained(dir, { backend: 'wasm' });
    const reference = await GLiNER.fromPretrained(FIXTURE, { backend: 'wasm' });
    try {
      const text = 'Alice Martin visited Paris on 3 May 2021.';
      const opts = { threshold: 0.3, flatNer: false };
      const got = await oldStyle.predictEntities(text, ['person', 'city', 'date'], opts);
      expect(got).toEqual(await reference.predictEntities(text, ['person', 'city', 'date'], opts));
      expect(got.length).toBeGreaterThan(0);
    } finally {
      oldStyle.dispose();
      reference.dispose();
    }
  });

  test('encoder config.json vocab_size larger than the checkpoint table: sized from the tokenizer, as upstream', async () => {
    // The published checkpoints have 128004 rows while microsoft/deberta-v3-*'s config.json says
    // 128100; upstream resizes the table to len(tokenizer) before loading the state dict.
    const dir = oldStyleCopy('resized', { vocab_size: 800 });
    const model = await GLiNER.fromPretrained(dir, { backend: 'wasm' });
    const reference = await GLiNER.fromPretrained(FIXTURE, { backend: 'wasm' });
    try {
      expect(model.config.encoder.vocabSize).toBe(704);
      const text = 'Bob Chen moved to Tokyo.';
      expect(await model.predictEntities(text, ['person', 'city'], { threshold: 0.3 })).toEqual(
        await reference.predictEntities(text, ['person', 'city'], { threshold: 0.3 }),
      );
    } finally {
      model.dispose();
      reference.dispose();
    }
  });
});

/** small is written as the urchade repo publishes it (old-style config), multi as current GLiNER saves it. */
const CI_FAMILIES: [string, ConfigStyle][] = [
  ['gliner_small-v2.1', 'published'],
  ['gliner_multi-v2.1', 'current'],
];
const SLOW_FAMILIES: [string, ConfigStyle][] = [
  ['gliner_medium-v2.1', 'published'],
  ['gliner_large-v2.1', 'current'],
  ['gliner_base', 'published'],
  ['NuNER_Zero', 'published'],
];

describe('full-size random-weight models load through GLiNER.fromPretrained and predict', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gliner-family-'));
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  async function endToEnd(name: string, style: ConfigStyle): Promise<void> {
    const f = getFamily(name);
    const dir = path.join(tmp, name);
    const made = await makeRandomModel({ family: name, outDir: dir, seed: 1, style });
    const expectedParams = EXPECTED_PARAMS[f.size];
    expect(made.parameterCount).toBe(expectedParams);
    expect(made.weightsBytes).toBeGreaterThan(expectedParams * 4);

    const info = await collectModelInfo(dir, 'wasm');
    expect(info.family).toMatchObject({ size: f.size, exactVocab: true });
    expect(info.family!.matches).toContain(name);
    expect([info.parameters, info.weights.parameters, info.weights.format]).toEqual([expectedParams, expectedParams, 'safetensors']);
    expect([info.tokenizer.entId, info.tokenizer.sepId, info.tokenizer.size]).toEqual([f.tokenIds.ent, f.tokenIds.sep, f.vocabSize]);

    const model = await GLiNER.fromPretrained(dir, { backend: 'wasm' });
    try {
      expect(model.config.encoder.vocabSize).toBe(f.vocabSize);
      expect(countParameters(model.model.namedParameters().map(([n, p]) => [n, p.layout.storedShape]))).toBe(expectedParams);
      const texts = ['Alice Martin visited Paris on 3 May 2021.', 'Bob Chen works for Real Madrid in Spain.'];
      const labels = ['person', 'city', 'date'];
      // Threshold 0 keeps every span the decoder allows: with random weights the scores mean
      // nothing, but the whole pipeline (tokens at ids 128k+, full-width encoder, decoding) runs.
      const results = await model.batchPredictEntities(texts, labels, { threshold: 0 });
      results.forEach((entities, i) => {
        expect(entities.length).toBeGreaterThan(0);
        for (const e of entities) {
          expect(texts[i].slice(e.start, e.end)).toBe(e.text);
          expect(labels).toContain(e.label);
          expect(e.score).toBeGreaterThan(0);
          expect(e.score).toBeLessThan(1);
        }
        // Flat output: no overlaps.
        const sorted = [...entities].sort((a, b) => a.start - b.start);
        for (let k = 1; k < sorted.length; k++) expect(sorted[k].start).toBeGreaterThanOrEqual(sorted[k - 1].end);
      });
      expect(await model.batchPredictEntities(texts, labels, { threshold: 0 })).toEqual(results);
    } finally {
      model.dispose();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  for (const [name, style] of CI_FAMILIES) test(`${name} (${style} config)`, () => endToEnd(name, style), 600_000);
  for (const [name, style] of SLOW_FAMILIES) {
    if (SLOW) test(`${name} (${style} config, GLINER_TF_SLOW=1)`, () => endToEnd(name, style), 900_000);
    else test.skip(`${name}: slow (${(EXPECTED_PARAMS[getFamily(name).size] / 1e6).toFixed(0)}M parameters), set GLINER_TF_SLOW=1 to run`, () => {});
  }
});
