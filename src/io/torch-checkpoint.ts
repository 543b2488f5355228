/**
 * Reader for PyTorch checkpoints in the zip format that `torch.save` writes since torch 1.6
 * (`pytorch_model.bin`, `*.pt`, `*.pth`), without Python and without executing anything.
 *
 * The archive holds, under one top-level folder `<prefix>/`:
 *   data.pkl      a pickle (protocol 2) of the saved object; tensors appear as calls to
 *                 torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...) whose storage
 *                 is a "persistent id" ('storage', torch.FloatStorage, key, location, numel)
 *   data/<key>    the raw little-endian bytes of each storage
 *   byteorder     "little" or "big" (torch >= 2.1; absent means little)
 *   version, .data/serialization_id, ...  (ignored)
 *
 * The pickle is read by a restricted unpickler: it implements only the opcodes torch.save emits
 * (plus the protocol 3/4 variants of the same operations) and resolves only a whitelist of
 * GLOBALs, none of which runs code. Anything else is an Error naming the file and the opcode or
 * global, like torch.load(weights_only=True) but stricter.
 *
 * What is accepted as the result:
 *   - a dict / OrderedDict whose values are all tensors (a plain `state_dict`), or
 *   - a dict holding such a dict under 'state_dict', 'model_state_dict', 'model' or 'module'
 *     (common training-checkpoint wrappers; other keys such as 'optimizer' are then ignored,
 *     but they must still unpickle with the whitelist).
 * Keys keep their order in the pickle, i.e. the state_dict order.
 *
 * Not supported: the legacy (pre-1.6) non-zip format, TorchScript archives, quantized, sparse,
 * complex, unsigned 16/32/64-bit and float8 tensors, and tensors whose strides make elements
 * overlap (expand()).
 *
 * Tensor data is decoded with the same conventions as safetensors (`decode`). Non-contiguous
 * views are gathered into row-major order and tensors may share storages (tied weights); the
 * total number of decoded elements is capped at 4x the file size so that a hostile pickle
 * cannot alias one storage into unbounded memory.
 */
import { HostTensor, StoredDtype, TensorMap, numElements } from './host-tensor';
import { decode } from './safetensors';
import { ZipArchive, looksLikeZip } from './zip';

const DTYPE_BYTES: Record<StoredDtype, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

/** Legacy typed-storage classes (module `torch`) -> element dtype. */
const STORAGE_DTYPES: Record<string, StoredDtype> = {
  DoubleStorage: 'F64',
  FloatStorage: 'F32',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
};

/** `torch.<dtype>` globals (used by _rebuild_tensor_v3) -> dtype, aliases included. */
const TORCH_DTYPES: Record<string, StoredDtype> = {
  float64: 'F64', double: 'F64',
  float32: 'F32', float: 'F32',
  float16: 'F16', half: 'F16',
  bfloat16: 'BF16',
  int64: 'I64', long: 'I64',
  int32: 'I32', int: 'I32',
  int16: 'I16', short: 'I16',
  int8: 'I8',
  uint8: 'U8',
  bool: 'BOOL',
};

/** Wrapper keys tried, in order, when the top-level dict is not itself a state_dict. */
const WRAPPER_KEYS = ['state_dict', 'model_state_dict', 'model', 'module'];

/** Most tensor dimensions we accept (torch itself stops at 64). */
const MAX_RANK = 64;

// ---------------------------------------------------------------------------------------------
// Pickle values. Only what a state_dict can contain; everything else is rejected when read.

interface PyList { kind: 'list'; items: PyValue[] }
interface PyTuple { kind: 'tuple'; items: PyValue[] }
interface PyDict { kind: 'dict'; map: Map<string | number, PyValue> }
/** A whitelisted global, by its full dotted name. */
interface PyGlobal { kind: 'global'; name: string }
/** A storage as the persistent id describes it; its bytes live in `<prefix>/data/<key>`. */
interface PyStorage { kind: 'storage'; key: string; dtype: StoredDtype | 'untyped'; numel: number }
interface PyTensor { kind: 'tensor'; storage: PyStorage; dtype: StoredDtype; offset: number; shape: number[]; stride: number[] }

type PyObject = PyList | PyTuple | PyDict | PyGlobal | PyStorage | PyTensor;
type PyValue = null | boolean | number | bigint | string | Uint8Array | PyObject;

function isObj<K extends PyObject['kind']>(v: PyValue, kind: K): v is Extract<PyObject, { kind: K }> {
  return typeof v === 'object' && v !== null && !(v instanceof Uint8Array) && v.kind === kind;
}

function describe(v: PyValue): string {
  if (v === null) return 'None';
  if (v instanceof Uint8Array) return 'bytes';
  if (typeof v === 'object') return v.kind === 'global' ? `global ${v.name}` : v.kind;
  return typeof v === 'bigint' ? 'int' : typeof v;
}

/** Whitelisted globals. Storage and dtype classes are added below. */
const CALLABLES = new Set([
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_tensor_v3',
  'torch._utils._rebuild_parameter',
  'torch._utils._rebuild_parameter_with_state',
  'torch._tensor._rebuild_from_type_v2',
]);
/** Classes that may appear as the `new_type` of _rebuild_from_type_v2. */
const TENSOR_TYPES = new Set(['torch.Tensor', 'torch.nn.parameter.Parameter']);

function storageDtypeOf(name: string): StoredDtype | 'untyped' | undefined {
  const dot = name.lastIndexOf('.');
  const mod = name.slice(0, dot);
  const cls = name.slice(dot + 1);
  // Old torch pickled CUDA storages as torch.cuda.*; the bytes are the same.
  if ((mod === 'torch' || mod === 'torch.cuda') && Object.prototype.hasOwnProperty.call(STORAGE_DTYPES, cls)) {
    return STORAGE_DTYPES[cls];
  }
  if ((mod === 'torch' || mod === 'torch.storage') && cls === 'UntypedStorage') return 'untyped';
  return undefined;
}

function torchDtypeOf(name: string): StoredDtype | undefined {
  if (!name.startsWith('torch.')) return undefined;
  const cls = name.slice('torch.'.length);
  return Object.prototype.hasOwnProperty.call(TORCH_DTYPES, cls) ? TORCH_DTYPES[cls] : undefined;
}

function isAllowedGlobal(name: string): boolean {
  return CALLABLES.has(name) || TENSOR_TYPES.has(name) || storageDtypeOf(name) !== undefined || torchDtypeOf(name) !== undefined;
}

/** Opcode names, for error messages about opcodes we refuse. */
const OPCODE_NAMES: Record<number, string> = {
  0x28: 'MARK', 0x2e: 'STOP', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP', 0x46: 'FLOAT', 0x49: 'INT',
  0x4a: 'BININT', 0x4b: 'BININT1', 0x4c: 'LONG', 0x4d: 'BININT2', 0x4e: 'NONE', 0x50: 'PERSID',
  0x51: 'BINPERSID', 0x52: 'REDUCE', 0x53: 'STRING', 0x54: 'BINSTRING', 0x55: 'SHORT_BINSTRING',
  0x56: 'UNICODE', 0x58: 'BINUNICODE', 0x61: 'APPEND', 0x62: 'BUILD', 0x63: 'GLOBAL', 0x64: 'DICT',
  0x7d: 'EMPTY_DICT', 0x65: 'APPENDS', 0x67: 'GET', 0x68: 'BINGET', 0x69: 'INST', 0x6a: 'LONG_BINGET',
  0x6c: 'LIST', 0x5d: 'EMPTY_LIST', 0x6f: 'OBJ', 0x70: 'PUT', 0x71: 'BINPUT', 0x72: 'LONG_BINPUT',
  0x73: 'SETITEM', 0x74: 'TUPLE', 0x29: 'EMPTY_TUPLE', 0x75: 'SETITEMS', 0x47: 'BINFLOAT',
  0x80: 'PROTO', 0x81: 'NEWOBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x85: 'TUPLE1',
  0x86: 'TUPLE2', 0x87: 'TUPLE3', 0x88: 'NEWTRUE', 0x89: 'NEWFALSE', 0x8a: 'LONG1', 0x8b: 'LONG4',
  0x42: 'BINBYTES', 0x43: 'SHORT_BINBYTES', 0x8c: 'SHORT_BINUNICODE', 0x8d: 'BINUNICODE8',
  0x8e: 'BINBYTES8', 0x8f: 'EMPTY_SET', 0x90: 'ADDITEMS', 0x91: 'FROZENSET', 0x92: 'NEWOBJ_EX',
  0x93: 'STACK_GLOBAL', 0x94: 'MEMOIZE', 0x95: 'FRAME', 0x96: 'BYTEARRAY8', 0x97: 'NEXT_BUFFER',
  0x98: 'READONLY_BUFFER',
};

// ---------------------------------------------------------------------------------------------

class PickleError extends Error {}

/**
 * Budgets of the unpickler. Every read is bounds-checked, so strings cannot outgrow the input,
 * but one opcode byte can make one JS object (EMPTY_DICT is a Map, ~100 bytes of heap): an 8 MB
 * pickle of them would need ~1 GB. A torch state_dict pickle makes about 6 objects and 5 memo
 * entries per tensor and keeps its stack a few thousand entries deep (batches of 1000), so these
 * ceilings leave room for 40,000 tensors (large LLM checkpoints have about 1,000) while keeping
 * the heap growth near 50 MB at worst (measured in test/hostile-io.test.ts).
 */
export interface PickleBudget {
  /** Most lists, tuples, dicts, globals, storages and tensors pushed in all. */
  maxObjects: number;
  /** Most memo entries. */
  maxMemo: number;
  /** Deepest value stack (per MARK level) and MARK nesting. */
  maxStack: number;
  maxMarks: number;
}

export const DEFAULT_PICKLE_BUDGET: PickleBudget = { maxObjects: 250_000, maxMemo: 250_000, maxStack: 250_000, maxMarks: 10_000 };

/**
 * The restricted unpickler. Every read is bounds-checked and the objects, memo and stacks it
 * builds are counted against a `PickleBudget`, so memory use is bounded whatever the pickle.
 */
class Unpickler {
  private pos = 0;
  private stack: PyValue[] = [];
  private readonly metastack: PyValue[][] = [];
  private readonly memo = new Map<number, PyValue>();
  private readonly view: DataView;
  private readonly utf8 = new TextDecoder('utf-8', { fatal: true });

  private objects = 0;

  constructor(
    private readonly data: Uint8Array,
    private readonly persistentLoad: (pid: PyValue) => PyValue,
    private readonly budget: PickleBudget = DEFAULT_PICKLE_BUDGET,
  ) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  private overBudget(what: string, limit: number): never {
    this.fail(`the pickle needs more than ${limit} ${what}, far more than any state_dict (a pickle bomb?)`);
  }

  private remember(key: number): void {
    if (!this.memo.has(key) && this.memo.size >= this.budget.maxMemo) this.overBudget('memo entries', this.budget.maxMemo);
    this.memo.set(key, this.top());
  }

  private fail(what: string, at = this.pos): never {
    throw new PickleError(`${what} at byte ${at}`);
  }

  private take(n: number, what: string): number {
    if (n < 0 || this.pos + n > this.data.byteLength) this.fail(`truncated pickle: ${what} needs ${n} bytes`);
    const at = this.pos;
    this.pos += n;
    return at;
  }

  private u8(): number { return this.data[this.take(1, 'argument')]; }
  private u16(): number { return this.view.getUint16(this.take(2, 'argument'), true); }
  private u32(): number { return this.view.getUint32(this.take(4, 'argument'), true); }
  private i32(): number { return this.view.getInt32(this.take(4, 'argument'), true); }
  private u64(): number {
    const v = this.view.getBigUint64(this.take(8, 'argument'), true);
    // Any length beyond the remaining input fails in take(); clamp so the comparison stays exact.
    return v > BigInt(this.data.byteLength) ? this.data.byteLength + 1 : Number(v);
  }

  private bytes(n: number, what: string): Uint8Array {
    const at = this.take(n, what);
    return this.data.subarray(at, at + n);
  }

  private str(n: number, what: string): string {
    const raw = this.bytes(n, what);
    try {
      return this.utf8.decode(raw);
    } catch {
      this.fail(`${what} is not valid UTF-8`);
    }
  }

  /** A '\n'-terminated line (GLOBAL's module and name); short by construction. */
  private line(): string {
    const end = this.data.indexOf(0x0a, this.pos);
    if (end < 0 || end - this.pos > 1024) this.fail('GLOBAL argument is not a short newline-terminated line');
    const s = this.str(end - this.pos, 'GLOBAL argument');
    this.pos = end + 1;
    return s;
  }

  private push(v: PyValue): void {
    if (typeof v === 'object' && v !== null && ++this.objects > this.budget.maxObjects) this.overBudget('objects', this.budget.maxObjects);
    if (this.stack.length >= this.budget.maxStack) this.overBudget('stack entries', this.budget.maxStack);
    this.stack.push(v);
  }

  private pop(): PyValue {
    if (this.stack.length === 0) this.fail('stack underflow');
    return this.stack.pop() as PyValue;
  }

  private top(): PyValue {
    if (this.stack.length === 0) this.fail('stack underflow');
    return this.stack[this.stack.length - 1];
  }

  private popMark(): PyValue[] {
    const items = this.stack;
    const prev = this.metastack.pop();
    if (!prev) this.fail('no MARK on the stack');
    this.stack = prev;
    return items;
  }

  private global(name: string, at: number): PyGlobal {
    if (!isAllowedGlobal(name)) {
      this.fail(`unsupported pickle GLOBAL '${name}' (only tensors, storages and OrderedDict are allowed)`, at);
    }
    return { kind: 'global', name };
  }

  load(): PyValue {
    for (;;) {
      const at = this.pos;
      if (at >= this.data.byteLength) this.fail('truncated pickle: no STOP opcode');
      const op = this.data[this.pos++];
      switch (op) {
        case 0x80: { // PROTO
          const proto = this.u8();
          if (proto > 5) this.fail(`unsupported pickle protocol ${proto}`, at);
          break;
        }
        case 0x95: this.u64(); break; // FRAME: framing is only a read-ahead hint.
        case 0x2e: { // STOP
          return this.pop();
        }
        case 0x28: // MARK
          if (this.metastack.length >= this.budget.maxMarks) this.overBudget('nested MARKs', this.budget.maxMarks);
          this.metastack.push(this.stack);
          this.stack = [];
          break;
        case 0x7d: this.push({ kind: 'dict', map: new Map() }); break; // EMPTY_DICT
        case 0x5d: this.push({ kind: 'list', items: [] }); break; // EMPTY_LIST
        case 0x29: this.push({ kind: 'tuple', items: [] }); break; // EMPTY_TUPLE
        case 0x4e: this.push(null); break; // NONE
        case 0x88: this.push(true); break; // NEWTRUE
        case 0x89: this.push(false); break; // NEWFALSE
        case 0x4b: this.push(this.u8()); break; // BININT1
        case 0x4d: this.push(this.u16()); break; // BININT2
        case 0x4a: this.push(this.i32()); break; // BININT
        case 0x8a: { // LONG1: little-endian two's complement
          const raw = this.bytes(this.u8(), 'LONG1');
          let v = 0n;
          for (let i = raw.byteLength - 1; i >= 0; i--) v = (v << 8n) | BigInt(raw[i]);
          if (raw.byteLength > 0 && raw[raw.byteLength - 1] & 0x80) v -= 1n << BigInt(8 * raw.byteLength);
          this.push(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
          break;
        }
        case 0x47: this.push(this.view.getFloat64(this.take(8, 'BINFLOAT'), false)); break; // BINFLOAT (big-endian)
        case 0x58: this.push(this.str(this.u32(), 'BINUNICODE')); break;
        case 0x8c: this.push(this.str(this.u8(), 'SHORT_BINUNICODE')); break;
        case 0x8d: this.push(this.str(this.u64(), 'BINUNICODE8')); break;
        case 0x55: { // SHORT_BINSTRING: Python 2 str; torch.load decodes these as latin1 at worst.
          const raw = this.bytes(this.u8(), 'SHORT_BINSTRING');
          this.push(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('latin1'));
          break;
        }
        case 0x43: this.push(this.bytes(this.u8(), 'SHORT_BINBYTES')); break;
        case 0x42: this.push(this.bytes(this.u32(), 'BINBYTES')); break;
        case 0x71: this.remember(this.u8()); break; // BINPUT
        case 0x72: this.remember(this.u32()); break; // LONG_BINPUT
        case 0x94: this.remember(this.memo.size); break; // MEMOIZE
        case 0x68: case 0x6a: { // BINGET, LONG_BINGET
          const idx = op === 0x68 ? this.u8() : this.u32();
          if (!this.memo.has(idx)) this.fail(`memo key ${idx} is not defined`, at);
          this.push(this.memo.get(idx) as PyValue);
          break;
        }
        case 0x30: this.pop(); break; // POP
        case 0x31: this.popMark(); break; // POP_MARK
        case 0x63: { // GLOBAL
          const mod = this.line();
          const name = this.line();
          this.push(this.global(`${mod}.${name}`, at));
          break;
        }
        case 0x93: { // STACK_GLOBAL
          const name = this.pop();
          const mod = this.pop();
          if (typeof mod !== 'string' || typeof name !== 'string') this.fail('STACK_GLOBAL needs two strings', at);
          this.push(this.global(`${mod}.${name}`, at));
          break;
        }
        case 0x74: this.push({ kind: 'tuple', items: this.popMark() }); break; // TUPLE
        case 0x85: case 0x86: case 0x87: { // TUPLE1..3
          const n = op - 0x84;
          if (this.stack.length < n) this.fail('stack underflow', at);
          this.push({ kind: 'tuple', items: this.stack.splice(this.stack.length - n, n) });
          break;
        }
        case 0x61: { // APPEND
          const item = this.pop();
          this.listTarget(at).items.push(item);
          break;
        }
        case 0x65: { // APPENDS
          const items = this.popMark();
          const list = this.listTarget(at).items;
          for (const item of items) list.push(item); // no spread: it overflows the call stack on long lists
          break;
        }
        case 0x73: { // SETITEM
          const value = this.pop();
          const key = this.pop();
          this.dictTarget(at).map.set(this.dictKey(key, at), value);
          break;
        }
        case 0x75: { // SETITEMS
          const items = this.popMark();
          if (items.length % 2) this.fail('SETITEMS with an odd number of items', at);
          const dict = this.dictTarget(at);
          for (let i = 0; i < items.length; i += 2) dict.map.set(this.dictKey(items[i], at), items[i + 1]);
          break;
        }
        case 0x51: { // BINPERSID
          const pid = this.pop();
          try {
            this.push(this.persistentLoad(pid));
          } catch (e) {
            this.fail((e as Error).message, at);
          }
          break;
        }
        case 0x52: { // REDUCE
          const args = this.pop();
          const func = this.pop();
          if (!isObj(func, 'global') || !CALLABLES.has(func.name)) this.fail(`REDUCE on ${describe(func)}, which is not callable here`, at);
          if (!isObj(args, 'tuple')) this.fail(`REDUCE arguments are a ${describe(args)}, not a tuple`, at);
          try {
            this.push(callGlobal(func.name, args.items));
          } catch (e) {
            this.fail((e as Error).message, at);
          }
          break;
        }
        case 0x62: { // BUILD
          const state = this.pop();
          const inst = this.top();
          // OrderedDict carries its __dict__ (e.g. state_dict's `_metadata` versions): irrelevant for weights.
          if (!isObj(inst, 'dict') || !(state === null || isObj(state, 'dict'))) {
            this.fail(`BUILD of ${describe(inst)} with ${describe(state)} state is not supported`, at);
          }
          break;
        }
        default: {
          const name = OPCODE_NAMES[op];
          this.fail(`unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')}${name ? ` (${name})` : ''}`, at);
        }
      }
    }
  }

  private listTarget(at: number): PyList {
    const t = this.top();
    if (!isObj(t, 'list')) this.fail(`APPEND to a ${describe(t)}`, at);
    return t;
  }

  private dictTarget(at: number): PyDict {
    const t = this.top();
    if (!isObj(t, 'dict')) this.fail(`SETITEM on a ${describe(t)}`, at);
    return t;
  }

  private dictKey(k: PyValue, at: number): string | number {
    if (typeof k !== 'string' && typeof k !== 'number') this.fail(`dict key of type ${describe(k)} is not supported`, at);
    return k;
  }
}

// ---------------------------------------------------------------------------------------------
// The whitelisted callables. They only build descriptions; nothing is read until the end.

function callGlobal(name: string, args: PyValue[]): PyValue {
  switch (name) {
    case 'collections.OrderedDict':
      if (args.length !== 0) throw new Error('OrderedDict() with arguments is not supported');
      return { kind: 'dict', map: new Map() };
    case 'torch._utils._rebuild_tensor_v2':
      // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
      if (args.length < 6 || args.length > 7) throw new Error(`_rebuild_tensor_v2 takes 6 or 7 arguments, got ${args.length}`);
      return rebuildTensor(args[0], args[1], args[2], args[3], undefined, args[6]);
    case 'torch._utils._rebuild_tensor_v3': {
      // (untyped storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype[, metadata])
      if (args.length < 7 || args.length > 8) throw new Error(`_rebuild_tensor_v3 takes 7 or 8 arguments, got ${args.length}`);
      const dt = args[6];
      const dtype = isObj(dt, 'global') ? torchDtypeOf(dt.name) : undefined;
      if (!dtype) throw new Error(`_rebuild_tensor_v3 with unsupported dtype ${describe(dt)}`);
      return rebuildTensor(args[0], args[1], args[2], args[3], dtype, args[7]);
    }
    case 'torch._utils._rebuild_parameter':
    case 'torch._utils._rebuild_parameter_with_state': {
      // (data, requires_grad, backward_hooks[, state]): a Parameter is just its tensor here.
      const want = name.endsWith('_with_state') ? 4 : 3;
      if (args.length !== want || !isObj(args[0], 'tensor')) throw new Error(`${name} expects a tensor and ${want - 1} more arguments`);
      return args[0];
    }
    case 'torch._tensor._rebuild_from_type_v2': {
      // (func, new_type, args, state): a tensor with Python attributes; the attributes are dropped.
      const [func, newType, inner] = args;
      if (args.length !== 4 || !isObj(func, 'global') || !CALLABLES.has(func.name) || func.name === name) {
        throw new Error('_rebuild_from_type_v2 with an unsupported rebuild function');
      }
      if (!isObj(newType, 'global') || !TENSOR_TYPES.has(newType.name)) {
        throw new Error(`_rebuild_from_type_v2 of unsupported type ${describe(newType)}`);
      }
      if (!isObj(inner, 'tuple')) throw new Error('_rebuild_from_type_v2 arguments are not a tuple');
      const result = callGlobal(func.name, inner.items);
      if (!isObj(result, 'tensor')) throw new Error('_rebuild_from_type_v2 did not build a tensor');
      return result;
    }
    default:
      throw new Error(`global ${name} is not callable`);
  }
}

function intTuple(v: PyValue, what: string): number[] {
  if (!isObj(v, 'tuple') && !isObj(v, 'list')) throw new Error(`tensor ${what} is a ${describe(v)}, not a tuple`);
  if (v.items.length > MAX_RANK) throw new Error(`tensor ${what} has ${v.items.length} dimensions (at most ${MAX_RANK})`);
  return v.items.map((d) => {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) throw new Error(`tensor ${what} has an invalid entry ${String(d)}`);
    return d;
  });
}

function rebuildTensor(storage: PyValue, offset: PyValue, size: PyValue, stride: PyValue, v3Dtype: StoredDtype | undefined, metadata: PyValue | undefined): PyTensor {
  if (!isObj(storage, 'storage')) throw new Error(`tensor storage is a ${describe(storage)}`);
  const dtype = v3Dtype ?? storage.dtype;
  if (dtype === 'untyped') throw new Error('_rebuild_tensor_v2 on an untyped storage (no dtype)');
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) throw new Error(`tensor storage_offset ${String(offset)} is invalid`);
  const shape = intTuple(size, 'size');
  const strides = intTuple(stride, 'stride');
  if (strides.length !== shape.length) throw new Error(`tensor size ${JSON.stringify(shape)} and stride ${JSON.stringify(strides)} differ in rank`);
  // metadata only carries the conj/neg view bits; a set bit would change the values.
  if (metadata !== undefined && metadata !== null) {
    if (!isObj(metadata, 'dict')) throw new Error(`tensor metadata is a ${describe(metadata)}`);
    for (const [k, v] of metadata.map) if (v) throw new Error(`tensor metadata '${String(k)}' is set, which is not supported`);
  }
  return { kind: 'tensor', storage, dtype, offset, shape, stride: strides };
}

// ---------------------------------------------------------------------------------------------

/** Parse a zip-format `torch.save` checkpoint held in memory; `source` names it in errors. */
export interface TorchReadOptions {
  pickleBudget?: PickleBudget;
  /** See ZipOptions.maxInflatedBytes. */
  maxInflatedBytes?: number;
}

export function readTorchCheckpoint(bytes: Uint8Array, source = '<buffer>', options: TorchReadOptions = {}): TensorMap {
  const fail: (what: string) => never = (what) => {
    throw new Error(`${source}: invalid torch checkpoint: ${what}`);
  };
  if (!looksLikeZip(bytes)) {
    if (bytes.byteLength >= 2 && bytes[0] === 0x80 && bytes[1] <= 5) {
      fail('this is the legacy (pre-1.6) torch.save format, which is not supported; re-save it with a recent torch or convert it to safetensors');
    }
    fail('not a zip archive (expected the zip format that torch.save writes)');
  }
  const zip = new ZipArchive(bytes, source, { maxInflatedBytes: options.maxInflatedBytes });

  const pkls = zip.names().filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pkls.length !== 1) fail(pkls.length === 0 ? 'no <prefix>/data.pkl entry' : `several data.pkl entries (${pkls.join(', ')})`);
  const pklName = pkls[0];
  const prefix = pklName.slice(0, -'data.pkl'.length);
  if (zip.has(`${prefix}constants.pkl`) || zip.names().some((n) => n.startsWith(`${prefix}code/`))) {
    fail('this is a TorchScript archive (torch.jit.save); save the state_dict with torch.save instead');
  }

  let bigEndian = false;
  if (zip.has(`${prefix}byteorder`)) {
    const order = Buffer.from(zip.read(`${prefix}byteorder`)).toString('latin1');
    if (order !== 'little' && order !== 'big') fail(`${prefix}byteorder is '${order.slice(0, 16)}', expected 'little' or 'big'`);
    bigEndian = order === 'big';
  }

  // Storages are only described while unpickling (sizes come from the zip directory); their
  // bytes are read afterwards, and only for the tensors we return.
  const persistentLoad = (pid: PyValue): PyStorage => {
    if (!isObj(pid, 'tuple') || pid.items.length !== 5 || pid.items[0] !== 'storage') {
      throw new Error(`persistent id ${describe(pid)} is not a ('storage', type, key, location, numel) tuple`);
    }
    const [, type, key, location, numel] = pid.items;
    const dtype = isObj(type, 'global') ? storageDtypeOf(type.name) : undefined;
    if (!dtype) throw new Error(`unsupported storage type ${describe(type)}`);
    if (typeof key !== 'string' || typeof location !== 'string') throw new Error('storage key and location must be strings');
    if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) throw new Error(`storage '${key}' has an invalid size ${String(numel)}`);
    const entry = zip.entries.get(`${prefix}data/${key}`);
    if (!entry) throw new Error(`storage '${key}' has no ${prefix}data/${key} entry`);
    // UntypedStorage counts bytes; the typed ones count elements.
    const nbytes = dtype === 'untyped' ? numel : numel * DTYPE_BYTES[dtype];
    if (entry.uncompressedSize !== nbytes) throw new Error(`storage '${key}' should hold ${nbytes} bytes but ${entry.name} has ${entry.uncompressedSize}`);
    return { kind: 'storage', key, dtype, numel };
  };

  let root: PyValue;
  try {
    root = new Unpickler(zip.read(pklName), persistentLoad, options.pickleBudget).load();
  } catch (e) {
    if (!(e instanceof PickleError)) throw e;
    fail(`${pklName}: ${e.message}`);
  }

  const dict = selectStateDict(root, fail);

  // Decoded floats take 4 bytes per element: allow every stored element to be decoded a few
  // times over (tied weights share storages) but not a pickle that aliases one storage endlessly.
  let budget = 4 * bytes.byteLength + 1024;
  // Each storage is read (and CRC-checked) once, however many tensors share it.
  const storageBytes = new Map<string, Uint8Array>();
  const out: TensorMap = new Map();
  for (const [name, t] of dict) {
    const what = `${source}: tensor '${name}'`;
    const n = checkView(t, fail, name);
    budget -= n;
    if (budget < 0) fail(`tensor '${name}': the tensors reference more elements than the file can hold (storages aliased too many times)`);
    let storage = storageBytes.get(t.storage.key);
    if (!storage) {
      storage = zip.read(`${prefix}data/${t.storage.key}`);
      storageBytes.set(t.storage.key, storage);
    }
    const raw = gather(storage, t, n, bigEndian);
    const data = decode(new DataView(raw.buffer, raw.byteOffset, raw.byteLength), t.dtype, n, what);
    out.set(name, { dtype: t.dtype, shape: t.shape, data } satisfies HostTensor);
  }
  return out;
}

/** The state_dict inside the unpickled object (see the module comment for what is accepted). */
function selectStateDict(root: PyValue, fail: (what: string) => never): Map<string, PyTensor> {
  if (!isObj(root, 'dict')) fail(`the pickled object is a ${describe(root)}, not a dict of tensors`);
  const asTensors = (d: PyDict, where: string): Map<string, PyTensor> => {
    const m = new Map<string, PyTensor>();
    for (const [k, v] of d.map) {
      if (typeof k !== 'string') fail(`${where} has a non-string key ${k}`);
      if (!isObj(v, 'tensor')) fail(`${where} entry '${k}' is a ${describe(v)}, not a tensor`);
      m.set(k, v);
    }
    return m;
  };
  const values = [...root.map.values()];
  if (values.length === 0 || values.some((v) => isObj(v, 'tensor'))) return asTensors(root, 'state_dict');
  for (const key of WRAPPER_KEYS) {
    const inner = root.map.get(key);
    if (inner !== undefined && isObj(inner, 'dict')) return asTensors(inner, `'${key}'`);
  }
  fail(`the pickled dict holds no tensors and none of ${WRAPPER_KEYS.join('/')} (keys: ${[...root.map.keys()].slice(0, 8).join(', ')})`);
}

/** Validates the view against its storage; returns the element count. */
function checkView(t: PyTensor, fail: (what: string) => never, name: string): number {
  const esize = DTYPE_BYTES[t.dtype];
  const storageBytes = t.storage.dtype === 'untyped' ? t.storage.numel : t.storage.numel * DTYPE_BYTES[t.storage.dtype];
  const storageElems = Math.floor(storageBytes / esize);
  const n = numElements(t.shape);
  if (n === 0) return 0;
  if (n > storageElems) {
    fail(`tensor '${name}' has ${n} elements but its storage '${t.storage.key}' holds ${storageElems} (overlapping/expanded strides are not supported)`);
  }
  let last = t.offset;
  for (let d = 0; d < t.shape.length; d++) last += (t.shape[d] - 1) * t.stride[d];
  if (last >= storageElems) {
    fail(`tensor '${name}' (offset ${t.offset}, size ${JSON.stringify(t.shape)}, stride ${JSON.stringify(t.stride)}) reaches element ${last} of a ${storageElems}-element storage '${t.storage.key}'`);
  }
  return n;
}

/**
 * The tensor's bytes in row-major order, little-endian. Contiguous views are returned without a
 * copy; strided views are gathered element by element.
 */
function gather(storage: Uint8Array, t: PyTensor, n: number, bigEndian: boolean): Uint8Array {
  const esize = DTYPE_BYTES[t.dtype];
  let out: Uint8Array;
  let copied = false;
  if (isContiguous(t.shape, t.stride)) {
    out = storage.subarray(t.offset * esize, (t.offset + n) * esize);
  } else {
    copied = true;
    out = new Uint8Array(n * esize);
    const rank = t.shape.length;
    const idx = new Array<number>(rank).fill(0);
    let src = t.offset;
    for (let i = 0; i < n; i++) {
      out.set(storage.subarray(src * esize, (src + 1) * esize), i * esize);
      // Odometer step over the multi-index, last dimension fastest.
      for (let d = rank - 1; d >= 0; d--) {
        if (++idx[d] < t.shape[d]) {
          src += t.stride[d];
          break;
        }
        src -= (t.shape[d] - 1) * t.stride[d];
        idx[d] = 0;
      }
    }
  }
  if (bigEndian && esize > 1) {
    if (!copied) out = out.slice(); // never byte-swap the archive buffer in place
    for (let i = 0; i < out.byteLength; i += esize) out.subarray(i, i + esize).reverse();
  }
  return out;
}

/** Row-major contiguity; strides of size-1 dimensions do not matter. */
function isContiguous(shape: number[], stride: number[]): boolean {
  let expected = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && stride[d] !== expected) return false;
    expected *= shape[d];
  }
  return true;
}
