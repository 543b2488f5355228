/**
 * Weight-file I/O: safetensors reader/writer, the zip reader, the torch.save checkpoint reader,
 * format detection and atomic writes. Test pickles and zips are assembled byte by byte below
 * (no Python or torch needed).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import fc from 'fast-check';
import { HostTensor, TensorMap, floatToHalf, halfToFloat } from '../src/io/host-tensor';
import { floatToBf16, readSafetensors, writeSafetensors } from '../src/io/safetensors';
import { readTorchCheckpoint } from '../src/io/torch-checkpoint';
import { readWeightsFile, readWeightsFileSync } from '../src/io/weights-file';
import { FileWriteError, cleanStaleTemp, isDiskFullError, removeFolderAtomic, writeFileAtomic, writeFileAtomicSync, writeFolderAtomic } from '../src/io/atomic-write';
import { ZipArchive, crc32 } from '../src/io/zip';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'reference');
const FOLDERS = ['tiny_buckets8', 'tiny_buckets256'];
const fixture = (folder: string, file: string): Buffer => fs.readFileSync(path.join(FIXTURES, folder, file));

function bytesOf(t: HostTensor): Buffer {
  return Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

function expectSameTensors(actual: TensorMap, expected: TensorMap): void {
  expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
  for (const [name, e] of expected) {
    const a = actual.get(name) as HostTensor;
    expect({ name, dtype: a.dtype, shape: a.shape }).toEqual({ name, dtype: e.dtype, shape: e.shape });
    expect(a.data.constructor).toBe(e.data.constructor);
    // Bit-identical, NaN payloads and signed zeros included.
    expect(bytesOf(a).equals(bytesOf(e))).toBe(true);
  }
}

/** Expects `fn` to throw an Error whose message contains every fragment. */
function expectError(fn: () => unknown, ...fragments: string[]): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(Error);
  for (const f of fragments) expect((caught as Error).message).toContain(f);
}

// ---------------------------------------------------------------------------------------------
// Hand-made pickles (protocol 2, as torch.save writes them) and zips.

const enc = new TextEncoder();
const cat = (...parts: (number[] | Uint8Array)[]): Uint8Array =>
  Uint8Array.from(Buffer.concat(parts.map((p) => (p instanceof Uint8Array ? p : Uint8Array.from(p)))));
const u32le = (n: number): number[] => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];

const pk = {
  proto: [0x80, 2],
  mark: [0x28],
  stop: [0x2e],
  emptyDict: [0x7d],
  emptyTuple: [0x29],
  tuple: [0x74],
  setitems: [0x75],
  setitem: [0x73],
  reduce: [0x52],
  build: [0x62],
  binpersid: [0x51],
  newfalse: [0x89],
  newtrue: [0x88],
  none: [0x4e],
  str: (s: string): number[] => {
    const b = enc.encode(s);
    return [0x58, ...u32le(b.length), ...b];
  },
  int: (n: number): number[] => (n >= 0 && n < 256 ? [0x4b, n] : [0x4a, ...u32le(n)]),
  global: (mod: string, name: string): number[] => [0x63, ...enc.encode(`${mod}\n${name}\n`)],
  ints: (xs: number[]): number[] => [0x28, ...xs.flatMap((x) => pk.int(x)), 0x74],
  orderedDict: (): number[] => [...pk.global('collections', 'OrderedDict'), 0x29, 0x52],
  /** ('storage', torch.<cls>, key, 'cpu', numel) as a persistent id. */
  storage: (cls: string, key: string, numel: number, mod = 'torch'): number[] => [
    0x28, ...pk.str('storage'), ...pk.global(mod, cls), ...pk.str(key), ...pk.str('cpu'), ...pk.int(numel), 0x74, 0x51,
  ],
  /** torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict()). */
  tensor: (cls: string, key: string, numel: number, offset: number, size: number[], stride: number[]): number[] => [
    ...pk.global('torch._utils', '_rebuild_tensor_v2'),
    0x28, ...pk.storage(cls, key, numel), ...pk.int(offset), ...pk.ints(size), ...pk.ints(stride), 0x89, ...pk.orderedDict(), 0x74,
    0x52,
  ],
  /** A dict from pre-pickled values. */
  dict: (entries: [string, number[]][]): number[] => [0x7d, 0x28, ...entries.flatMap(([k, v]) => [...pk.str(k), ...v]), 0x75],
};
const pickle = (body: number[]): Uint8Array => cat(pk.proto, body, pk.stop);

interface ZipInput { name: string; data: Uint8Array; deflate?: boolean }

/** A minimal zip writer; `zip64Extra` moves every entry's sizes and offset into a ZIP64 extra field. */
function makeZip(entries: ZipInput[], { zip64Extra = false } = {}): Uint8Array {
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = enc.encode(e.name);
    const body = e.deflate ? zlib.deflateRawSync(e.data) : e.data;
    const crc = crc32(e.data);
    const method = e.deflate ? 8 : 0;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x800, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(e.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    locals.push(cat(local, name, body));
    const extra = Buffer.alloc(zip64Extra ? 28 : 0);
    if (zip64Extra) {
      extra.writeUInt16LE(1, 0);
      extra.writeUInt16LE(24, 2);
      extra.writeBigUInt64LE(BigInt(e.data.length), 4);
      extra.writeBigUInt64LE(BigInt(body.length), 12);
      extra.writeBigUInt64LE(BigInt(offset), 20);
    }
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(45, 4);
    central.writeUInt16LE(45, 6);
    central.writeUInt16LE(0x800, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(zip64Extra ? 0xffffffff : body.length, 20);
    central.writeUInt32LE(zip64Extra ? 0xffffffff : e.data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt16LE(extra.length, 30);
    central.writeUInt32LE(zip64Extra ? 0xffffffff : offset, 42);
    centrals.push(cat(central, name, extra));
    offset += local.length + name.length + body.length;
  }
  const cd = cat(...centrals);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(entries.length, 8);
  eocd.writeUInt16LE(entries.length, 10);
  eocd.writeUInt32LE(cd.length, 12);
  eocd.writeUInt32LE(offset, 16);
  return cat(...locals, cd, eocd);
}

/** A torch.save-style archive: <prefix>/data.pkl, <prefix>/data/<key>, version and (optionally) byteorder. */
function makeCheckpoint(pkl: Uint8Array, storages: Record<string, Uint8Array>, opts: { prefix?: string; byteorder?: string; deflate?: boolean } = {}): Uint8Array {
  const prefix = opts.prefix ?? 'archive';
  const entries: ZipInput[] = [{ name: `${prefix}/data.pkl`, data: pkl, deflate: opts.deflate }];
  if (opts.byteorder !== undefined) entries.push({ name: `${prefix}/byteorder`, data: enc.encode(opts.byteorder) });
  for (const [k, v] of Object.entries(storages)) entries.push({ name: `${prefix}/data/${k}`, data: v, deflate: opts.deflate });
  entries.push({ name: `${prefix}/version`, data: enc.encode('3\n') });
  return makeZip(entries);
}

const f32Bytes = (xs: number[], littleEndian = true): Uint8Array => {
  const b = Buffer.alloc(4 * xs.length);
  xs.forEach((x, i) => (littleEndian ? b.writeFloatLE(x, 4 * i) : b.writeFloatBE(x, 4 * i)));
  return b;
};
const iota = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** Two tensors sharing one 6-float storage: a transposed view and an offset slice. */
function sharedStoragePickle(): Uint8Array {
  return pickle(
    pk.dict([
      ['t', pk.tensor('FloatStorage', '0', 6, 0, [3, 2], [1, 3])],
      ['slice', pk.tensor('FloatStorage', '0', 6, 2, [2], [1])],
    ]),
  );
}

// ---------------------------------------------------------------------------------------------

describe('fixtures: pytorch_model.bin == model.safetensors', () => {
  /** state_dict order of the tiny GLiNER: module registration order, see fixtures README. */
  function stateDictOrder(): string[] {
    const bert = 'token_rep_layer.bert_layer.model';
    const wb = (p: string): string[] => [`${p}.weight`, `${p}.bias`];
    const keys = [`${bert}.embeddings.word_embeddings.weight`, ...wb(`${bert}.embeddings.LayerNorm`)];
    for (let i = 0; i < 2; i++) {
      const l = `${bert}.encoder.layer.${i}`;
      keys.push(
        ...['query_proj', 'key_proj', 'value_proj'].flatMap((m) => wb(`${l}.attention.self.${m}`)),
        ...wb(`${l}.attention.output.dense`), ...wb(`${l}.attention.output.LayerNorm`),
        ...wb(`${l}.intermediate.dense`), ...wb(`${l}.output.dense`), ...wb(`${l}.output.LayerNorm`),
      );
    }
    keys.push(`${bert}.encoder.rel_embeddings.weight`, ...wb(`${bert}.encoder.LayerNorm`), ...wb('token_rep_layer.projection'));
    for (const s of ['', '_reverse']) keys.push(...['weight_ih', 'weight_hh', 'bias_ih', 'bias_hh'].map((p) => `rnn.lstm.${p}_l0${s}`));
    for (const m of ['project_start', 'project_end', 'out_project']) {
      keys.push(...wb(`span_rep_layer.span_rep_layer.${m}.0`), ...wb(`span_rep_layer.span_rep_layer.${m}.3`));
    }
    keys.push(...wb('prompt_rep_layer.0'), ...wb('prompt_rep_layer.3'));
    return keys;
  }

  it.each(FOLDERS)('%s: same keys, shapes and bits; .bin keeps state_dict order', (folder) => {
    const st = readSafetensors(fixture(folder, 'model.safetensors'), 'model.safetensors').tensors;
    const bin = readTorchCheckpoint(fixture(folder, 'pytorch_model.bin'), 'pytorch_model.bin');
    expect(st.size).toBe(64);
    expectSameTensors(bin, st);
    for (const t of bin.values()) expect(t.dtype).toBe('F32');
    expect([...bin.keys()]).toEqual(stateDictOrder());
  });

  it.each(FOLDERS)('%s: readWeightsFile picks the format from the content', async (folder) => {
    const st = await readWeightsFile(path.join(FIXTURES, folder, 'model.safetensors'));
    const bin = readWeightsFileSync(path.join(FIXTURES, folder, 'pytorch_model.bin'));
    expectSameTensors(bin, st);
  });

  it('zip reader sees the ZIP64 records and data-descriptor local headers torch writes', () => {
    const zip = new ZipArchive(fixture('tiny_buckets8', 'pytorch_model.bin'), 'pytorch_model.bin');
    expect(zip.entries.size).toBe(66);
    expect(zip.names()[0]).toBe('pytorch_model/data.pkl');
    expect(Buffer.from(zip.read('pytorch_model/version')).toString()).toBe('3\n');
    expect(zip.entries.get('pytorch_model/data/0')?.uncompressedSize).toBe(704 * 32 * 4);
    // torch aligns each entry's data to 64 bytes with a padding extra field.
    for (const e of zip.entries.values()) expect(e.dataOffset % 64).toBe(0);
  });
});

describe('expected_tensors.safetensors', () => {
  it('decodes I64, F32 and BOOL tensors', () => {
    const { tensors, metadata } = readSafetensors(fixture('tiny_buckets8', 'expected_tensors.safetensors'), 'expected_tensors');
    expect(metadata).toEqual({});
    const ids = tensors.get('case0.input_ids') as HostTensor;
    expect(ids.dtype).toBe('I64');
    expect(ids.data).toBeInstanceOf(Int32Array);
    expect(Array.from(ids.data.subarray(0, 2))).toEqual([1, 702]);
    const spanMask = tensors.get('case0.span_mask') as HostTensor;
    expect(spanMask.dtype).toBe('BOOL');
    expect(spanMask.data).toBeInstanceOf(Uint8Array);
    expect(spanMask.data.every((v) => v === 0 || v === 1)).toBe(true);
    expect(spanMask.data.some((v) => v === 1)).toBe(true);
    const lengths = tensors.get('case0.text_lengths') as HostTensor;
    expect(lengths.shape).toEqual([1, 1]);
    const logits = tensors.get('case0.logits') as HostTensor;
    expect(logits.dtype).toBe('F32');
    expect(logits.shape.length).toBe(4);
  });
});

describe('writeSafetensors', () => {
  it.each([
    ['tiny_buckets8', 'model.safetensors'],
    ['tiny_buckets256', 'model.safetensors'],
    ['tiny_buckets8', 'expected_tensors.safetensors'],
    ['tiny_buckets256', 'expected_tensors.safetensors'],
  ])('%s/%s: reproduces the file byte for byte and re-reads equal', (folder, file) => {
    const original = fixture(folder, file);
    const { tensors } = readSafetensors(original, file);
    const written = writeSafetensors(tensors);
    expectSameTensors(readSafetensors(written, 'written').tensors, tensors);
    expect(Buffer.from(written).equals(original)).toBe(true);
  });

  it('converts pytorch_model.bin into the same bytes as model.safetensors', () => {
    const bin = readTorchCheckpoint(fixture('tiny_buckets8', 'pytorch_model.bin'), 'bin');
    expect(Buffer.from(writeSafetensors(bin)).equals(fixture('tiny_buckets8', 'model.safetensors'))).toBe(true);
  });

  it('round-trips every dtype, metadata and the 8-byte data alignment', () => {
    const tensors: [string, HostTensor][] = [
      ['f32', { dtype: 'F32', shape: [2, 3], data: Float32Array.from([0, -0, 1.5, -2.25, Infinity, 3.4e38]) }],
      ['f64', { dtype: 'F64', shape: [3], data: Float32Array.from([Math.fround(0.1), -1e-30, NaN]) }],
      ['f16', { dtype: 'F16', shape: [5], data: Float32Array.from([1, -2, 65504, 2 ** -24, -Infinity]) }],
      ['bf16', { dtype: 'BF16', shape: [4], data: Float32Array.from([1, -3.140625, 2 ** 100, 0]) }],
      ['i64', { dtype: 'I64', shape: [4], data: Int32Array.from([0, -1, 2147483647, -2147483648]) }],
      ['i32', { dtype: 'I32', shape: [2], data: Int32Array.from([7, -7]) }],
      ['i16', { dtype: 'I16', shape: [2], data: Int32Array.from([-32768, 32767]) }],
      ['i8', { dtype: 'I8', shape: [2], data: Int32Array.from([-128, 127]) }],
      ['u8', { dtype: 'U8', shape: [2], data: Int32Array.from([0, 255]) }],
      ['bool', { dtype: 'BOOL', shape: [1, 3], data: Uint8Array.from([1, 0, 1]) }],
      ['empty', { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) }],
      ['scalar', { dtype: 'F32', shape: [], data: Float32Array.from([42]) }],
    ];
    const metadata = { format: 'pt', 'gliner-tf': 'é ✓' };
    const bytes = writeSafetensors(tensors, metadata);
    const headerLen = Number(Buffer.from(bytes).readBigUInt64LE(0));
    expect((8 + headerLen) % 8).toBe(0);
    const header = Buffer.from(bytes.subarray(8, 8 + headerLen)).toString('utf8');
    expect(header.startsWith('{"__metadata__":{"format":"pt","gliner-tf":"é ✓"}')).toBe(true);
    const back = readSafetensors(bytes, 'roundtrip');
    expect(back.metadata).toEqual(metadata);
    expect([...back.tensors.keys()]).toEqual(tensors.map(([k]) => k).sort());
    expectSameTensors(back.tensors, new Map(tensors));
    // Written from a Map too, same bytes.
    expect(Buffer.from(writeSafetensors(new Map(tensors), metadata)).equals(Buffer.from(bytes))).toBe(true);
  });

  it('rounds F16 and BF16 to nearest even', () => {
    expect(floatToBf16(1 + 2 ** -8)).toBe(0x3f80); // tie -> even (down)
    expect(floatToBf16(1 + 3 * 2 ** -8)).toBe(0x3f82); // tie -> even (up)
    expect(floatToBf16(1 + 2 ** -8 + 2 ** -20)).toBe(0x3f81);
    expect(floatToBf16(NaN)).toBe(0x7fc0);
    expect(floatToBf16(-Infinity)).toBe(0xff80);
    expect(floatToBf16(3.4028234663852886e38)).toBe(0x7f80); // overflows to inf, as torch does
    const bytes = writeSafetensors([['h', { dtype: 'F16', shape: [2], data: Float32Array.from([1 + 2 ** -11, 1 + 3 * 2 ** -11]) }]]);
    const h = readSafetensors(bytes, 'f16').tensors.get('h') as HostTensor;
    expect(Array.from(h.data)).toEqual([1, halfToFloat(0x3c02)]);

    // The writer's bit-level F16 conversion agrees with host-tensor's floatToHalf everywhere:
    // random bit patterns cover normals, subnormals, overflow, infinities and NaNs.
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 1, maxLength: 64 }), (patterns) => {
        const values = new Float32Array(Uint32Array.from(patterns).buffer);
        const out = writeSafetensors([['h', { dtype: 'F16', shape: [values.length], data: values }]]);
        const headerLen = Number(Buffer.from(out).readBigUInt64LE(0));
        const halves = Buffer.from(out.subarray(8 + headerLen));
        values.forEach((v, i) => expect(halves.readUInt16LE(2 * i)).toBe(floatToHalf(v)));
      }),
      { numRuns: 200 },
    );
  });

  it('rejects tensors it cannot write faithfully', () => {
    const t = (over: Partial<HostTensor>): [string, HostTensor][] => [['x', { dtype: 'F32', shape: [2], data: new Float32Array(2), ...over }]];
    expectError(() => writeSafetensors(t({ shape: [3] })), "tensor 'x'", '3 elements', '2 values');
    expectError(() => writeSafetensors(t({ data: new Int32Array(2) })), "tensor 'x'", 'Float32Array');
    expectError(() => writeSafetensors(t({ dtype: 'I8', data: Int32Array.from([1, 200]) })), "tensor 'x'", '200', 'I8');
    expectError(() => writeSafetensors([...t({}), ...t({})]), "duplicate tensor name 'x'");
    expectError(() => writeSafetensors([['__metadata__', t({})[0][1]]]), '__metadata__');
  });
});

describe('torch checkpoints built by hand', () => {
  it('gathers strided views and shares storages', () => {
    const ckpt = makeCheckpoint(sharedStoragePickle(), { '0': f32Bytes(iota(6)) });
    const m = readTorchCheckpoint(ckpt, 'shared.pt');
    expect([...m.keys()]).toEqual(['t', 'slice']);
    expect(m.get('t')?.shape).toEqual([3, 2]);
    expect(Array.from(m.get('t')?.data ?? [])).toEqual([0, 3, 1, 4, 2, 5]);
    expect(Array.from(m.get('slice')?.data ?? [])).toEqual([2, 3]);
  });

  it('honours byteorder=big, deflated entries and ZIP64 extra fields', () => {
    const big = makeCheckpoint(sharedStoragePickle(), { '0': f32Bytes(iota(6), false) }, { byteorder: 'big', deflate: true });
    expect(Array.from(readTorchCheckpoint(big, 'big.pt').get('t')?.data ?? [])).toEqual([0, 3, 1, 4, 2, 5]);
    const z64 = makeZip([{ name: 'a/b.txt', data: enc.encode('hello') }, { name: 'a/c.txt', data: enc.encode('zip64'), deflate: true }], { zip64Extra: true });
    const zip = new ZipArchive(z64, 'z64.zip');
    expect(Buffer.from(zip.read('a/c.txt')).toString()).toBe('zip64');
  });

  it('reads parameters, dtypes, _rebuild_tensor_v3 on an UntypedStorage and wrapper dicts', () => {
    const param = [...pk.global('torch._utils', '_rebuild_parameter'), 0x28, ...pk.tensor('LongStorage', '1', 2, 0, [2], [1]), 0x88, ...pk.orderedDict(), 0x74, 0x52];
    const v3 = [
      ...pk.global('torch._utils', '_rebuild_tensor_v3'), 0x28,
      ...pk.storage('UntypedStorage', '2', 4, 'torch.storage'), ...pk.int(0), ...pk.ints([2]), ...pk.ints([1]), 0x89, ...pk.orderedDict(),
      ...pk.global('torch', 'float16'), 0x74, 0x52,
    ];
    const bool = pk.tensor('BoolStorage', '3', 3, 0, [3], [1]);
    // OrderedDict + SETITEMS + BUILD(_metadata), inside {'epoch': 3, 'state_dict': ...}.
    const stateDict = [...pk.orderedDict(), 0x28, ...pk.str('w'), ...param, ...pk.str('h'), ...v3, ...pk.str('m'), ...bool, 0x75,
      ...pk.dict([['_metadata', [0x7d]]]), 0x62];
    const pkl = pickle(pk.dict([['epoch', pk.int(3)], ['state_dict', stateDict]]));
    const i64 = Buffer.alloc(16);
    i64.writeBigInt64LE(-5n, 0);
    i64.writeBigInt64LE(123456789n, 8);
    const ckpt = makeCheckpoint(pkl, { '1': i64, '2': Uint8Array.from([0x00, 0x3c, 0x00, 0xc0]), '3': Uint8Array.from([1, 0, 1]) });
    const m = readTorchCheckpoint(ckpt, 'wrapped.pt');
    expect([...m.keys()]).toEqual(['w', 'h', 'm']);
    expect(m.get('w')).toEqual({ dtype: 'I64', shape: [2], data: Int32Array.from([-5, 123456789]) });
    expect(m.get('h')).toEqual({ dtype: 'F16', shape: [2], data: Float32Array.from([1, -2]) });
    expect(m.get('m')).toEqual({ dtype: 'BOOL', shape: [3], data: Uint8Array.from([1, 0, 1]) });
  });

  it('refuses code-running globals and unknown opcodes, naming the file', () => {
    const evil = pickle([...pk.global('os', 'system'), 0x28, ...pk.str('echo pwned'), 0x74, 0x52]);
    expectError(() => readTorchCheckpoint(makeCheckpoint(evil, {}), 'evil.pt'), 'evil.pt', 'archive/data.pkl', "GLOBAL 'os.system'");
    const inst = pickle([0x28, 0x69, ...enc.encode('os\nsystem\n')]);
    expectError(() => readTorchCheckpoint(makeCheckpoint(inst, {}), 'inst.pt'), 'inst.pt', 'opcode 0x69 (INST)');
    const builtins = pickle([...pk.global('builtins', 'eval')]);
    expectError(() => readTorchCheckpoint(makeCheckpoint(builtins, {}), 'b.pt'), 'b.pt', "GLOBAL 'builtins.eval'");
    const reduceStorage = pickle([...pk.global('torch', 'FloatStorage'), 0x29, 0x52]);
    expectError(() => readTorchCheckpoint(makeCheckpoint(reduceStorage, {}), 'r.pt'), 'r.pt', 'REDUCE on global torch.FloatStorage');
  });

  it('rejects inconsistent tensors and archives', () => {
    const one = (t: number[]): Uint8Array => pickle(pk.dict([['x', t]]));
    const storage = { '0': f32Bytes(iota(6)) };
    expectError(() => readTorchCheckpoint(makeCheckpoint(one(pk.tensor('FloatStorage', '0', 6, 3, [4], [1])), storage), 'oob.pt'),
      'oob.pt', "tensor 'x'", 'reaches element 6');
    expectError(() => readTorchCheckpoint(makeCheckpoint(one(pk.tensor('FloatStorage', '0', 6, 0, [4, 4], [0, 1])), storage), 'bcast.pt'),
      'bcast.pt', '16 elements');
    expectError(() => readTorchCheckpoint(makeCheckpoint(one(pk.tensor('FloatStorage', '0', 5, 0, [5], [1])), storage), 'size.pt'),
      'size.pt', 'should hold 20 bytes');
    expectError(() => readTorchCheckpoint(makeCheckpoint(one(pk.tensor('FloatStorage', '9', 6, 0, [6], [1])), storage), 'missing.pt'),
      'missing.pt', 'archive/data/9');
    expectError(() => readTorchCheckpoint(makeCheckpoint(one(pk.tensor('ComplexFloatStorage', '0', 6, 0, [6], [1])), storage), 'cplx.pt'),
      'cplx.pt', "GLOBAL 'torch.ComplexFloatStorage'");
    expectError(() => readTorchCheckpoint(makeCheckpoint(pickle(pk.dict([['x', pk.tensor('FloatStorage', '0', 6, 0, [6], [1])], ['n', pk.int(3)]])), storage), 'mixed.pt'),
      'mixed.pt', "entry 'n' is a number, not a tensor");
    expectError(() => readTorchCheckpoint(makeCheckpoint(pickle([0x5d]), {}), 'list.pt'), 'list.pt', 'list, not a dict');
    expectError(() => readTorchCheckpoint(makeCheckpoint(cat(pk.proto, pk.dict([])), {}), 'nostop.pt'), 'nostop.pt', 'no STOP');
    expectError(() => readTorchCheckpoint(makeCheckpoint(sharedStoragePickle(), storage, { byteorder: 'middle' }), 'bo.pt'), 'bo.pt', 'byteorder');
    expectError(() => readTorchCheckpoint(makeZip([{ name: 'x/y', data: new Uint8Array(1) }]), 'nopkl.pt'), 'nopkl.pt', 'no <prefix>/data.pkl');
    expectError(() => readTorchCheckpoint(Uint8Array.from([0x80, 0x02, 0x8a, 0x0a]), 'legacy.pt'), 'legacy.pt', 'legacy');
    expectError(() => readTorchCheckpoint(enc.encode('hello world'), 'text.pt'), 'text.pt', 'not a zip');

    // A flipped storage byte is caught by the CRC; a cut archive has no end record.
    const good = makeCheckpoint(sharedStoragePickle(), storage);
    const flipped = Uint8Array.from(good);
    flipped[good.indexOf(0x40, 200)] ^= 1; // 0x40 = high byte of 2.0..5.0, inside the storage
    expectError(() => readTorchCheckpoint(flipped, 'crc.pt'), 'crc.pt', 'CRC-32 mismatch');
    const bin = fixture('tiny_buckets8', 'pytorch_model.bin');
    expectError(() => readTorchCheckpoint(bin.subarray(0, bin.length >> 1), 'half.bin'), 'half.bin', 'invalid zip archive', 'end-of-central-directory');
    expectError(() => readTorchCheckpoint(bin.subarray(0, bin.length - 30), 'cut.bin'), 'cut.bin', 'invalid zip archive');
  });
});

describe('corrupt safetensors files', () => {
  /** A safetensors file with a hand-written header. */
  function withHeader(header: object, dataBytes: number): Uint8Array {
    const json = Buffer.from(JSON.stringify(header));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    return cat(len, json, new Uint8Array(dataBytes));
  }

  it('names the file and the problem', () => {
    const model = fixture('tiny_buckets8', 'model.safetensors');
    expectError(() => readSafetensors(model.subarray(0, 5), 'a.safetensors'), 'a.safetensors', 'shorter than the 8-byte header length');
    expectError(() => readSafetensors(model.subarray(0, 1000), 'b.safetensors'), 'b.safetensors', 'runs past the end');
    expectError(() => readSafetensors(model.subarray(0, model.length - 1), 'c.safetensors'), 'c.safetensors', 'fall outside');
    const longHeader = Buffer.from(model);
    longHeader.writeBigUInt64LE(BigInt(model.length), 0);
    expectError(() => readSafetensors(longHeader, 'd.safetensors'), 'd.safetensors', 'header length', 'past the end');
    const f32 = (offsets: number[], shape = [2]): object => ({ dtype: 'F32', shape, data_offsets: offsets });
    expectError(() => readSafetensors(withHeader({ a: f32([0, 8]), b: f32([4, 12]) }, 12), 'e.safetensors'), 'e.safetensors', "'a' and 'b' overlap");
    expectError(() => readSafetensors(withHeader({ a: { ...f32([0, 8]), dtype: 'F33' } }, 8), 'f.safetensors'), 'f.safetensors', 'unsupported dtype "F33"');
    expectError(() => readSafetensors(withHeader({ a: { ...f32([0, 8]), dtype: 'constructor' } }, 8), 'g.safetensors'), 'g.safetensors', 'unsupported dtype');
    expectError(() => readSafetensors(withHeader({ a: f32([0, 8], [3]) }, 8), 'h.safetensors'), 'h.safetensors', "tensor 'a'", 'needs 12 bytes');
    expectError(() => readSafetensors(withHeader({ a: f32([0, 8], [-2]) }, 8), 'i.safetensors'), 'i.safetensors', 'invalid shape');
    const notJson = Uint8Array.from(withHeader({ a: f32([0, 8]) }, 8));
    notJson[9] = 0xff;
    expectError(() => readSafetensors(notJson, 'j.safetensors'), 'j.safetensors', 'not valid UTF-8 JSON');
  });
});

describe('weights files on disk', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gliner-io-'));
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('writes atomically and leaves no temporary files', async () => {
    const file = path.join(dir, 'w.safetensors');
    const bytes = writeSafetensors([['x', { dtype: 'F32', shape: [1], data: Float32Array.from([1]) }]]);
    writeFileAtomicSync(file, bytes);
    await writeFileAtomic(file, bytes); // replaces the existing file
    expect(fs.readdirSync(dir)).toEqual(['w.safetensors']);
    expect(fs.readFileSync(file).equals(Buffer.from(bytes))).toBe(true);
    // A format is recognised from the content whatever the name.
    fs.copyFileSync(file, path.join(dir, 'renamed.bin'));
    expect((await readWeightsFile(path.join(dir, 'renamed.bin'))).get('x')?.data).toEqual(Float32Array.from([1]));

    // Renaming over a folder fails: the error names the target and the temp file is gone.
    const folder = path.join(dir, 'folder');
    fs.mkdirSync(folder);
    fs.writeFileSync(path.join(folder, 'keep'), 'x');
    expectError(() => writeFileAtomicSync(folder, bytes), folder, 'cannot write');
    await expect(writeFileAtomic(folder, bytes)).rejects.toThrow(folder);
    expect(fs.readdirSync(dir).sort()).toEqual(['folder', 'renamed.bin', 'w.safetensors']);
  });

  it('errors name the path', async () => {
    const missing = path.join(dir, 'missing.safetensors');
    await expect(readWeightsFile(missing)).rejects.toThrow(missing);
    const junk = path.join(dir, 'junk.dat');
    fs.writeFileSync(junk, 'not weights at all');
    expectError(() => readWeightsFileSync(junk), junk, 'unrecognised');
    const badBin = path.join(dir, 'bad.bin');
    fs.writeFileSync(badBin, 'PK\x03\x04garbage');
    expectError(() => readWeightsFileSync(badBin), badBin, 'invalid zip archive');
  });
});

describe('atomic folders', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gliner-atomic-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const files = (d: string) => Object.fromEntries(fs.readdirSync(d).map((n) => [n, fs.readFileSync(path.join(d, n), 'utf8')]));

  it('replaces a folder whole; a failing fill leaves the old one untouched and nothing else', async () => {
    const target = path.join(dir, 'model');
    await writeFolderAtomic(target, async (tmp) => fs.writeFileSync(path.join(tmp, 'a'), 'old'));
    await writeFolderAtomic(target, async (tmp) => fs.writeFileSync(path.join(tmp, 'b'), 'new'));
    expect(files(target)).toEqual({ b: 'new' });
    await expect(
      writeFolderAtomic(target, async (tmp) => {
        fs.writeFileSync(path.join(tmp, 'c'), 'half');
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      }),
    ).rejects.toThrow('ENOSPC');
    expect(files(target)).toEqual({ b: 'new' });
    expect(fs.readdirSync(dir)).toEqual(['model']);
  });

  it('a disk-full write names the file and the cause, and is recognised as such', async () => {
    const e = new FileWriteError('/x/model.safetensors', Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }));
    expect(e.message).toBe('/x/model.safetensors: cannot write file (no space left on device (ENOSPC))');
    expect(isDiskFullError(e)).toBe(true);
    expect(isDiskFullError(new FileWriteError('/x', Object.assign(new Error('EACCES'), { code: 'EACCES' })))).toBe(false);
  });

  it('removeFolderAtomic: the name goes first, then the files', () => {
    const victim = path.join(dir, 'checkpoint-3');
    fs.mkdirSync(victim);
    fs.writeFileSync(path.join(victim, 'model.safetensors'), 'x');
    removeFolderAtomic(victim);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('cleanStaleTemp: dead writers\' temp entries go, an orphaned .old- folder comes back, live writers are left alone', () => {
    const dead = 2 ** 22 + 12345; // above Linux's pid_max default: no such process
    const mk = (name: string, content = 'x') => {
      fs.mkdirSync(path.join(dir, name));
      fs.writeFileSync(path.join(dir, name, 'f'), content);
    };
    mk(`checkpoint-4.tmp-${dead}-0123456789ab`); // killed while writing
    mk(`final.old-${dead}-0123456789ab`, 'previous final'); // killed between the two renames
    mk(`checkpoint-2.old-${dead}-abcdef012345`); // killed while deleting; checkpoint-2 is gone for good...
    mk('checkpoint-2', 'rewritten'); // ...unless a folder of that name exists again: then the .old- is stale
    mk(`checkpoint-5.tmp-${process.ppid}-0123456789ab`); // a live process (our parent) may be writing
    mk('checkpoint-3');
    const touched = cleanStaleTemp(dir);
    expect(touched.sort()).toEqual([`checkpoint-2.old-${dead}-abcdef012345`, `checkpoint-4.tmp-${dead}-0123456789ab`, `final.old-${dead}-0123456789ab`]);
    expect(fs.readdirSync(dir).sort()).toEqual(['checkpoint-2', 'checkpoint-3', `checkpoint-5.tmp-${process.ppid}-0123456789ab`, 'final']);
    expect(files(path.join(dir, 'final'))).toEqual({ f: 'previous final' });
    expect(files(path.join(dir, 'checkpoint-2'))).toEqual({ f: 'rewritten' });
  });
});

// ---------------------------------------------------------------------------------------------
// Fuzzing: mutated and truncated files must give a clean Error naming the source, quickly.

describe('fuzz', () => {
  type Mutation = { at: number; value: number };
  const mutationsArb = (span: number): fc.Arbitrary<{ muts: Mutation[]; cut: number | null }> =>
    fc.record({
      muts: fc.array(fc.record({ at: fc.nat({ max: span - 1 }), value: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 6 }),
      cut: fc.option(fc.nat({ max: span }), { freq: 4 }),
    });

  function mutate(base: Uint8Array, muts: Mutation[], cut: number | null, at = 0): Uint8Array {
    const out = Uint8Array.from(base);
    for (const m of muts) if (at + m.at < out.length) out[at + m.at] = m.value;
    return cut === null ? out : out.subarray(0, Math.min(out.length, at + cut));
  }

  let slowest = 0;
  /** Runs `read`; it must succeed or throw an Error that names `source`. */
  function survives(read: () => unknown, source: string): void {
    const t0 = Date.now();
    try {
      read();
    } catch (e) {
      if (!(e instanceof Error) || !e.message.includes(source)) throw new Error(`bad failure: ${String(e)}`);
    } finally {
      slowest = Math.max(slowest, Date.now() - t0);
    }
  }
  afterAll(() => {
    expect(slowest).toBeLessThan(2000);
  });

  it('safetensors: small multi-dtype file, any byte', () => {
    const base = writeSafetensors(
      [
        ['a', { dtype: 'F16', shape: [2, 2], data: Float32Array.from([1, 2, 3, 4]) }],
        ['b', { dtype: 'I64', shape: [3], data: Int32Array.from([1, -2, 3]) }],
        ['c', { dtype: 'BOOL', shape: [2], data: Uint8Array.from([1, 0]) }],
      ],
      { k: 'v' },
    );
    fc.assert(fc.property(mutationsArb(base.length), ({ muts, cut }) => survives(() => readSafetensors(mutate(base, muts, cut), 'fuzz.safetensors'), 'fuzz.safetensors')), { numRuns: 2000 });
  });

  it('safetensors: fixture, header region', () => {
    const base = fixture('tiny_buckets8', 'model.safetensors');
    const span = 8 + Number(base.readBigUInt64LE(0)) + 64;
    fc.assert(fc.property(mutationsArb(span), ({ muts, cut }) => survives(() => readSafetensors(mutate(base, muts, cut), 'model.safetensors'), 'model.safetensors')), { numRuns: 300 });
  });

  it('torch: small hand-made checkpoint, any byte', () => {
    const base = makeCheckpoint(sharedStoragePickle(), { '0': f32Bytes(iota(6)) }, { byteorder: 'little' });
    fc.assert(fc.property(mutationsArb(base.length), ({ muts, cut }) => survives(() => readTorchCheckpoint(mutate(base, muts, cut), 'fuzz.pt'), 'fuzz.pt')), { numRuns: 1500 });
  });

  it('torch: fixture data.pkl mutated and re-zipped (valid CRCs, so the unpickler sees it)', () => {
    const zip = new ZipArchive(fixture('tiny_buckets8', 'pytorch_model.bin'), 'bin');
    const pkl = zip.read('pytorch_model/data.pkl');
    const storages: Record<string, Uint8Array> = {};
    for (const n of zip.names()) if (n.startsWith('pytorch_model/data/')) storages[n.slice('pytorch_model/data/'.length)] = zip.read(n);
    fc.assert(
      fc.property(mutationsArb(pkl.length), ({ muts, cut }) => {
        const ckpt = makeCheckpoint(mutate(pkl, muts, cut), storages, { prefix: 'pytorch_model' });
        survives(() => readTorchCheckpoint(ckpt, 'repacked.bin'), 'repacked.bin');
      }),
      { numRuns: 400 },
    );
  });

  it('torch: fixture zip structure (first header and central directory)', () => {
    const base = fixture('tiny_buckets8', 'pytorch_model.bin');
    const tail = base.length - 4600; // central directory + ZIP64 records + end record
    fc.assert(
      fc.property(mutationsArb(4600), fc.boolean(), ({ muts, cut }, head) => {
        const bytes = head ? mutate(base, muts.map((m) => ({ ...m, at: m.at % 128 })), null) : mutate(base, muts, cut, tail);
        survives(() => readTorchCheckpoint(bytes, 'pytorch_model.bin'), 'pytorch_model.bin');
      }),
      { numRuns: 300 },
    );
  });
});
