/**
 * SentencePiece `ModelProto` (src/sentencepiece_model.proto) parsing, and `SentencePieceModel`,
 * which ties the normaliser and the unigram segmenter together the way
 * `SentencePieceProcessor::Encode` does (including its merging of unknown runs and byte fallback).
 *
 * Only the UNIGRAM model type is supported (DeBERTa-v3 and GLiNER use it); BPE, WORD and CHAR
 * models are rejected with an explicit error.
 */
import { ProtoReader, WireType } from './protobuf';
import { ByteBuffer, SpmNormalizer } from './normalizer';
import { ByteTrie, PieceType, UnigramModel } from './unigram';

export { PieceType } from './unigram';

export enum ModelType {
  UNIGRAM = 1,
  BPE = 2,
  WORD = 3,
  CHAR = 4,
}

export interface SentencePieceEntry {
  piece: string;
  score: number;
  type: PieceType;
}

/** The TrainerSpec fields that matter for encoding (defaults as in the .proto). */
export interface TrainerSpec {
  modelType: ModelType;
  vocabSize: number;
  unkId: number;
  bosId: number;
  eosId: number;
  padId: number;
  unkPiece: string;
  bosPiece: string;
  eosPiece: string;
  padPiece: string;
  unkSurface: string;
  byteFallback: boolean;
  treatWhitespaceAsSuffix: boolean;
  splitByWhitespace: boolean;
  splitDigits: boolean;
  allowWhitespaceOnlyPieces: boolean;
}

export interface NormalizerSpec {
  name: string;
  precompiledCharsmap: Uint8Array;
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
  escapeWhitespaces: boolean;
  normalizationRuleTsv: string;
}

export interface ModelProto {
  pieces: SentencePieceEntry[];
  trainerSpec: TrainerSpec;
  normalizerSpec: NormalizerSpec;
  /** Present only if the file has one (used for decoding only; kept for completeness). */
  denormalizerSpec?: NormalizerSpec;
}

export function defaultTrainerSpec(): TrainerSpec {
  return {
    modelType: ModelType.UNIGRAM,
    vocabSize: 8000,
    unkId: 0,
    bosId: 1,
    eosId: 2,
    padId: -1,
    unkPiece: '<unk>',
    bosPiece: '<s>',
    eosPiece: '</s>',
    padPiece: '<pad>',
    unkSurface: ' \u2047 ',
    byteFallback: false,
    treatWhitespaceAsSuffix: false,
    splitByWhitespace: true,
    splitDigits: false,
    allowWhitespaceOnlyPieces: false,
  };
}

export function defaultNormalizerSpec(): NormalizerSpec {
  return {
    name: '',
    precompiledCharsmap: new Uint8Array(0),
    addDummyPrefix: true,
    removeExtraWhitespaces: true,
    escapeWhitespaces: true,
    normalizationRuleTsv: '',
  };
}

function parsePiece(r: ProtoReader): SentencePieceEntry {
  const out: SentencePieceEntry = { piece: '', score: 0, type: PieceType.NORMAL };
  while (r.hasMore()) {
    const key = r.readKey();
    switch (key.field) {
      case 1:
        r.expectWireType(key, WireType.LengthDelimited, 'SentencePiece.piece');
        out.piece = r.readString();
        break;
      case 2:
        r.expectWireType(key, WireType.Fixed32, 'SentencePiece.score');
        out.score = r.readFloat();
        break;
      case 3: {
        r.expectWireType(key, WireType.Varint, 'SentencePiece.type');
        const at = r.offset;
        const t = r.readInt32();
        if (!(t in PieceType) || typeof PieceType[t] !== 'string') r.fail(`unknown SentencePiece.type ${t}`, at);
        out.type = t as PieceType;
        break;
      }
      default:
        r.skip(key);
    }
  }
  return out;
}

function parseTrainerSpec(r: ProtoReader, out: TrainerSpec): void {
  const int = (key: { field: number; wireType: number }, name: string): number => {
    r.expectWireType(key, WireType.Varint, `TrainerSpec.${name}`);
    return r.readInt32();
  };
  const bool = (key: { field: number; wireType: number }, name: string): boolean => {
    r.expectWireType(key, WireType.Varint, `TrainerSpec.${name}`);
    return r.readBool();
  };
  const str = (key: { field: number; wireType: number }, name: string): string => {
    r.expectWireType(key, WireType.LengthDelimited, `TrainerSpec.${name}`);
    return r.readString();
  };
  while (r.hasMore()) {
    const key = r.readKey();
    switch (key.field) {
      case 3:
        out.modelType = int(key, 'model_type');
        break;
      case 4:
        out.vocabSize = int(key, 'vocab_size');
        break;
      case 22:
        out.splitByWhitespace = bool(key, 'split_by_whitespace');
        break;
      case 24:
        out.treatWhitespaceAsSuffix = bool(key, 'treat_whitespace_as_suffix');
        break;
      case 25:
        out.splitDigits = bool(key, 'split_digits');
        break;
      case 26:
        out.allowWhitespaceOnlyPieces = bool(key, 'allow_whitespace_only_pieces');
        break;
      case 35:
        out.byteFallback = bool(key, 'byte_fallback');
        break;
      case 40:
        out.unkId = int(key, 'unk_id');
        break;
      case 41:
        out.bosId = int(key, 'bos_id');
        break;
      case 42:
        out.eosId = int(key, 'eos_id');
        break;
      case 43:
        out.padId = int(key, 'pad_id');
        break;
      case 44:
        out.unkSurface = str(key, 'unk_surface');
        break;
      case 45:
        out.unkPiece = str(key, 'unk_piece');
        break;
      case 46:
        out.bosPiece = str(key, 'bos_piece');
        break;
      case 47:
        out.eosPiece = str(key, 'eos_piece');
        break;
      case 48:
        out.padPiece = str(key, 'pad_piece');
        break;
      default:
        r.skip(key);
    }
  }
}

function parseNormalizerSpec(r: ProtoReader, out: NormalizerSpec, name: string): void {
  while (r.hasMore()) {
    const key = r.readKey();
    switch (key.field) {
      case 1:
        r.expectWireType(key, WireType.LengthDelimited, `${name}.name`);
        out.name = r.readString();
        break;
      case 2:
        r.expectWireType(key, WireType.LengthDelimited, `${name}.precompiled_charsmap`);
        out.precompiledCharsmap = r.readBytes().slice(); // own copy, detached from the file buffer
        break;
      case 3:
        r.expectWireType(key, WireType.Varint, `${name}.add_dummy_prefix`);
        out.addDummyPrefix = r.readBool();
        break;
      case 4:
        r.expectWireType(key, WireType.Varint, `${name}.remove_extra_whitespaces`);
        out.removeExtraWhitespaces = r.readBool();
        break;
      case 5:
        r.expectWireType(key, WireType.Varint, `${name}.escape_whitespaces`);
        out.escapeWhitespaces = r.readBool();
        break;
      case 6:
        r.expectWireType(key, WireType.LengthDelimited, `${name}.normalization_rule_tsv`);
        out.normalizationRuleTsv = r.readString();
        break;
      default:
        r.skip(key);
    }
  }
}

/**
 * Decodes a serialized `ModelProto` (the content of a `.model` file). Only decodes; semantic
 * checks happen in `SentencePieceModel`. Errors name `source`.
 */
export function parseModelProto(bytes: Uint8Array, source = '<spm.model>'): ModelProto {
  const r = new ProtoReader(bytes, `${source}: invalid SentencePiece model`);
  const proto: ModelProto = { pieces: [], trainerSpec: defaultTrainerSpec(), normalizerSpec: defaultNormalizerSpec() };
  let sawTrainer = false;
  while (r.hasMore()) {
    const key = r.readKey();
    switch (key.field) {
      case 1:
        r.expectWireType(key, WireType.LengthDelimited, 'ModelProto.pieces');
        proto.pieces.push(parsePiece(r.readMessage()));
        break;
      case 2:
        r.expectWireType(key, WireType.LengthDelimited, 'ModelProto.trainer_spec');
        // A repeated embedded message merges into the previous one (protobuf semantics).
        parseTrainerSpec(r.readMessage(), proto.trainerSpec);
        sawTrainer = true;
        break;
      case 3:
        r.expectWireType(key, WireType.LengthDelimited, 'ModelProto.normalizer_spec');
        parseNormalizerSpec(r.readMessage(), proto.normalizerSpec, 'NormalizerSpec');
        break;
      case 5:
        r.expectWireType(key, WireType.LengthDelimited, 'ModelProto.denormalizer_spec');
        proto.denormalizerSpec ??= defaultNormalizerSpec();
        parseNormalizerSpec(r.readMessage(), proto.denormalizerSpec, 'DenormalizerSpec');
        break;
      default:
        r.skip(key);
    }
  }
  if (proto.pieces.length === 0) {
    // A file that is not a model at all usually decodes to nothing useful; say so plainly.
    throw new Error(`${source}: invalid SentencePiece model: no pieces found${sawTrainer ? '' : ' (and no trainer_spec): is this a SentencePiece .model file?'}`);
  }
  return proto;
}

// ignoreBOM: a leading U+FEFF is text here, not a byte-order mark to drop.
const UTF8_DECODER = new TextDecoder('utf-8', { ignoreBOM: true });

function bytePieceName(b: number): string {
  return `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
}

/** Parses "<0xAB>" to 0xAB, or -1. */
function pieceToByte(piece: string): number {
  const m = /^<0x([0-9A-F]{2})>$/.exec(piece);
  return m ? parseInt(m[1], 16) : -1;
}

/**
 * A loaded SentencePiece unigram model: `encodeAsPieces`/`encodeAsIds` give what
 * `SentencePieceProcessor.encode_as_pieces`/`encode_as_ids` give for the same model.
 */
export class SentencePieceModel {
  readonly proto: ModelProto;
  readonly source: string;
  /** Id of the UNKNOWN piece. */
  readonly unkId: number;
  readonly byteFallback: boolean;
  readonly normalizer: SpmNormalizer;
  readonly unigram: UnigramModel;
  /** Piece -> id as `PieceToId` resolves it: reserved (control/unknown/byte) pieces take precedence. */
  private readonly pieceIds = new Map<string, number>();
  /** Id of "<0xXX>" for each byte when byte_fallback is on. */
  private readonly byteIds = new Int32Array(256).fill(-1);

  /** Parses and validates a `.model` file's bytes. */
  static fromBytes(bytes: Uint8Array, source = '<spm.model>'): SentencePieceModel {
    return new SentencePieceModel(parseModelProto(bytes, source), source);
  }

  /** Validates as `ModelInterface::InitializePieces` does; errors name `source`. */
  constructor(proto: ModelProto, source = '<spm.model>') {
    this.proto = proto;
    this.source = source;
    const fail = (what: string): never => {
      throw new Error(`${source}: invalid SentencePiece model: ${what}`);
    };
    const mt = proto.trainerSpec.modelType;
    if (mt !== ModelType.UNIGRAM) {
      const name = ModelType[mt] ?? `#${mt}`;
      fail(`model_type ${name} is not supported (only UNIGRAM models can be loaded)`);
    }
    if (proto.pieces.length === 0) fail('no pieces are loaded');
    this.byteFallback = proto.trainerSpec.byteFallback;

    let unkId = -1;
    const normal = new Map<string, number>();
    const reserved = new Map<string, number>();
    const userDefined: Uint8Array[] = [];
    const bytesFound = new Uint8Array(256);
    const encoder = new TextEncoder();
    proto.pieces.forEach((p, id) => {
      if (p.piece.length === 0) fail(`piece ${id} is empty`);
      const isNormal = p.type === PieceType.NORMAL || p.type === PieceType.USER_DEFINED || p.type === PieceType.UNUSED;
      const table = isNormal ? normal : reserved;
      if (table.has(p.piece)) fail(`piece ${JSON.stringify(p.piece)} (id ${id}) is already defined`);
      table.set(p.piece, id);
      if (p.type === PieceType.USER_DEFINED) userDefined.push(encoder.encode(p.piece));
      if (p.type === PieceType.UNKNOWN) {
        if (unkId >= 0) fail(`unknown piece defined twice (ids ${unkId} and ${id})`);
        unkId = id;
      }
      if (p.type === PieceType.BYTE) {
        if (!this.byteFallback) fail(`byte piece ${p.piece} found although byte_fallback is false`);
        const b = pieceToByte(p.piece);
        if (b < 0) fail(`byte piece ${JSON.stringify(p.piece)} is invalid`);
        bytesFound[b] = 1;
        this.byteIds[b] = id;
      }
    });
    if (unkId < 0) fail('no UNKNOWN piece is defined');
    if (this.byteFallback && bytesFound.includes(0)) fail('byte_fallback is true but the 256 byte pieces are not all present');
    this.unkId = unkId;
    for (const [piece, id] of normal) this.pieceIds.set(piece, id);
    for (const [piece, id] of reserved) this.pieceIds.set(piece, id);

    this.unigram = new UnigramModel({ pieces: proto.pieces, unkId, flavor: 'sentencepiece' });
    const matcher = userDefined.length > 0 ? new ByteTrie(userDefined, userDefined.map(() => 1)) : null;
    this.normalizer = new SpmNormalizer({
      spec: proto.normalizerSpec,
      treatWhitespaceAsSuffix: proto.trainerSpec.treatWhitespaceAsSuffix,
      userDefined: matcher,
      source,
    });
  }

  /** Number of pieces (GetPieceSize). */
  get pieceCount(): number {
    return this.proto.pieces.length;
  }

  /** PieceToId: the id of `piece`, or the unknown id if it is not in the model. */
  pieceToId(piece: string): number {
    return this.pieceIds.get(piece) ?? this.unkId;
  }

  /** The id of `piece` if the model has it (any type), else undefined. */
  vocabId(piece: string): number | undefined {
    return this.pieceIds.get(piece);
  }

  idToPiece(id: number): string | undefined {
    return this.proto.pieces[id]?.piece;
  }

  /** The normalised text as SentencePiece sees it before segmentation (spaces as U+2581). */
  normalize(text: string): string {
    return this.normalizer.normalize(text);
  }

  /**
   * Core of Encode: walks the Viterbi segments and emits each output piece as a byte range
   * [start, end) of `norm` plus its id. Unknown runs are merged into one piece (keeping the
   * unknown id), except with byte fallback where each byte of an unknown becomes <0xXX>
   * (PopulateSentencePieceText in sentencepiece_processor.cc).
   */
  private encodeSegments(text: string, emit: (norm: Uint8Array, start: number, end: number, id: number, merged: boolean) => void): void {
    const norm = this.normalizer.normalizeToBuffer(text);
    if (norm.length === 0) return;
    const seg = this.unigram.encode(norm.data, norm.length);
    const unk = this.unkId;
    let i = 0;
    while (i < seg.count) {
      const id = seg.ids[i];
      if (id === unk && this.byteFallback) {
        for (let b = seg.starts[i]; b < seg.ends[i]; b++) emit(norm.data, b, b + 1, this.byteIds[norm.data[b]], false);
        i++;
        continue;
      }
      let j = i + 1;
      if (id === unk) while (j < seg.count && seg.ids[j] === unk) j++;
      emit(norm.data, seg.starts[i], seg.ends[j - 1], id, j - i > 1);
      i = j;
    }
  }

  /** encode_as_pieces. With byte fallback, unknown characters come out as "<0xXX>" pieces. */
  encodeAsPieces(text: string): string[] {
    const out: string[] = [];
    const byteFallback = this.byteFallback;
    this.encodeSegments(text, (norm, start, end, id) => {
      out.push(byteFallback && this.proto.pieces[id]?.type === PieceType.BYTE ? this.proto.pieces[id].piece : UTF8_DECODER.decode(norm.subarray(start, end)));
    });
    return out;
  }

  /** encode_as_ids. */
  encodeAsIds(text: string): number[] {
    const out: number[] = [];
    this.encodeSegments(text, (_norm, _start, _end, id) => {
      out.push(id);
    });
    return out;
  }

  /**
   * Ids as a tokenizer that maps `encode_as_pieces` output through the vocabulary gets them
   * (the Hugging Face DeBERTa-v2 tokenizers): identical to `encodeAsIds` except that an unknown
   * piece whose surface happens to be in the vocabulary (e.g. an UNUSED piece) maps to that id.
   */
  encodeToVocabIds(text: string): number[] {
    const out: number[] = [];
    const unk = this.unkId;
    this.encodeSegments(text, (norm, start, end, id) => {
      if (id === unk) {
        const surface = UTF8_DECODER.decode(norm.subarray(start, end));
        out.push(this.pieceIds.get(surface) ?? unk);
      } else {
        out.push(id);
      }
    });
    return out;
  }

  /** Name of the byte piece for `b` ("<0x41>"). */
  static bytePieceName(b: number): string {
    return bytePieceName(b);
  }
}
