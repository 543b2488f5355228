/**
 * Loads a DeBERTa-v2/v3 tokenizer from a Hugging Face model folder:
 *   spm.model                  SentencePiece model (preferred when present)
 *   tokenizer.json             fast-tokenizer file (used when spm.model is absent, or on request)
 *   added_tokens.json          {"[MASK]": 700, "<<ENT>>": 702, ...}
 *   tokenizer_config.json      added_tokens_decoder {id: {content, lstrip, rstrip, special, ...}},
 *                              special token names, do_lower_case, split_by_punct
 *   special_tokens_map.json    special token names (strings or {content: ...}); overrides the config
 * Every error names the file and, where relevant, the key.
 */
import { JsonDepthError, assertJsonDepth } from './json-depth';
import * as fs from 'fs';
import * as path from 'path';
import { DebertaV2Tokenizer, DEFAULT_SPECIAL_TOKENS } from '../tokenizer/deberta-tokenizer';
import type { AddedToken, SpecialTokenNames, SubwordModel } from '../tokenizer/deberta-tokenizer';
import { SentencePieceModel } from '../tokenizer/sentencepiece-model';
import { parseTokenizerJson } from '../tokenizer/tokenizer-json';

export interface LoadTokenizerOptions {
  /** Which model file to use: 'auto' (spm.model if present, else tokenizer.json), or force one. */
  format?: 'auto' | 'spm' | 'tokenizer.json';
  /** Word cache capacity (see DebertaV2TokenizerOptions.cacheSize). */
  cacheSize?: number;
}

export const SPM_FILE = 'spm.model';
export const TOKENIZER_JSON_FILE = 'tokenizer.json';
const ADDED_TOKENS_FILE = 'added_tokens.json';
const CONFIG_FILE = 'tokenizer_config.json';
const SPECIAL_MAP_FILE = 'special_tokens_map.json';

type JsonObject = Record<string, unknown>;

function readJsonObject(file: string): JsonObject | undefined {
  if (!fs.existsSync(file)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error(`${file}: expected a JSON object at the top level`);
  return parsed as JsonObject;
}

/** A special token entry is either "[CLS]" or {"content": "[CLS]", ...} (possibly with "__type": "AddedToken"). */
function tokenContent(value: unknown, file: string, key: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && !Array.isArray(value) && typeof (value as JsonObject).content === 'string') {
    return (value as JsonObject).content as string;
  }
  throw new Error(`${file}: key "${key}" must be a string or an object with a string "content"`);
}

function boolField(o: JsonObject, key: string, file: string, path: string, dflt: boolean): boolean {
  const v = o[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'boolean') throw new Error(`${file}: key "${path}.${key}" must be a boolean`);
  return v;
}

/** added_tokens_decoder: {"702": {"content": "<<ENT>>", "special": true, ...}}. */
function addedFromConfig(config: JsonObject, file: string): AddedToken[] {
  const dec = config.added_tokens_decoder;
  if (dec === undefined || dec === null) return [];
  if (typeof dec !== 'object' || Array.isArray(dec)) throw new Error(`${file}: key "added_tokens_decoder" must be an object`);
  return Object.entries(dec as JsonObject).map(([idStr, v]) => {
    const key = `added_tokens_decoder.${idStr}`;
    const id = Number(idStr);
    if (!/^\d+$/.test(idStr) || !Number.isSafeInteger(id)) throw new Error(`${file}: key "${key}" is not a token id`);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${file}: key "${key}" must be an object`);
    const o = v as JsonObject;
    if (typeof o.content !== 'string' || o.content.length === 0) throw new Error(`${file}: key "${key}.content" must be a non-empty string`);
    return {
      id,
      content: o.content,
      special: boolField(o, 'special', file, key, false),
      lstrip: boolField(o, 'lstrip', file, key, false),
      rstrip: boolField(o, 'rstrip', file, key, false),
    };
  });
}

/** added_tokens.json: {"<<ENT>>": 702, ...}; these are special tokens in GLiNER folders. */
function addedFromAddedTokensJson(obj: JsonObject, file: string): AddedToken[] {
  return Object.entries(obj).map(([content, id]) => {
    if (!Number.isSafeInteger(id) || (id as number) < 0) throw new Error(`${file}: key "${content}" must map to a non-negative integer id`);
    if (content.length === 0) throw new Error(`${file}: empty token string`);
    return { id: id as number, content, special: true, lstrip: false, rstrip: false };
  });
}

/** Merges token lists, rejecting a token given different ids by different files. */
function mergeAdded(sources: { file: string; tokens: AddedToken[] }[]): AddedToken[] {
  const byContent = new Map<string, { t: AddedToken; file: string }>();
  const byId = new Map<number, { t: AddedToken; file: string }>();
  for (const { file, tokens } of sources) {
    for (const t of tokens) {
      const prev = byContent.get(t.content);
      if (prev && prev.t.id !== t.id) {
        throw new Error(`${file}: token ${JSON.stringify(t.content)} has id ${t.id} but ${prev.file} gives it id ${prev.t.id}`);
      }
      const prevId = byId.get(t.id);
      if (prevId && prevId.t.content !== t.content) {
        throw new Error(`${file}: id ${t.id} is ${JSON.stringify(t.content)} but ${prevId.file} gives it to ${JSON.stringify(prevId.t.content)}`);
      }
      // The first file that defines a token wins for its flags (added_tokens_decoder is the most detailed).
      if (!prev) {
        byContent.set(t.content, { t, file });
        byId.set(t.id, { t, file });
      }
    }
  }
  return [...byContent.values()].map((e) => e.t);
}

const ROLES: (keyof SpecialTokenNames)[] = ['cls', 'sep', 'pad', 'unk', 'mask'];

/** Special token names: defaults < tokenizer_config.json < special_tokens_map.json (as HF resolves them). */
function specialTokenNames(config: JsonObject | undefined, specialMap: JsonObject | undefined, configFile: string, mapFile: string): SpecialTokenNames {
  const names: SpecialTokenNames = { ...DEFAULT_SPECIAL_TOKENS };
  for (const role of ROLES) {
    const key = `${role}_token`;
    const fromConfig = config ? tokenContent(config[key], configFile, key) : undefined;
    const fromMap = specialMap ? tokenContent(specialMap[key], mapFile, key) : undefined;
    const v = fromMap ?? fromConfig;
    if (v !== undefined) names[role] = v;
  }
  return names;
}

/**
 * Builds the tokenizer of a model folder. Throws with the file (and key) at fault when a
 * needed file is missing or malformed.
 */
export function loadTokenizerFromDir(dir: string, options: LoadTokenizerOptions = {}): DebertaV2Tokenizer {
  const format = options.format ?? 'auto';
  const spmPath = path.join(dir, SPM_FILE);
  const jsonPath = path.join(dir, TOKENIZER_JSON_FILE);
  const configPath = path.join(dir, CONFIG_FILE);
  const mapPath = path.join(dir, SPECIAL_MAP_FILE);
  const addedPath = path.join(dir, ADDED_TOKENS_FILE);

  let useSpm: boolean;
  if (format === 'spm') {
    if (!fs.existsSync(spmPath)) throw new Error(`${spmPath}: file not found (format 'spm' was requested)`);
    useSpm = true;
  } else if (format === 'tokenizer.json') {
    if (!fs.existsSync(jsonPath)) throw new Error(`${jsonPath}: file not found (format 'tokenizer.json' was requested)`);
    useSpm = false;
  } else if (fs.existsSync(spmPath)) {
    useSpm = true;
  } else if (fs.existsSync(jsonPath)) {
    useSpm = false;
  } else {
    throw new Error(`${dir}: no tokenizer found: neither ${SPM_FILE} nor ${TOKENIZER_JSON_FILE} exists in the folder`);
  }

  const config = readJsonObject(configPath);
  const specialMap = readJsonObject(mapPath);
  const specials = specialTokenNames(config, specialMap, configPath, mapPath);

  let model: SubwordModel;
  const sources: { file: string; tokens: AddedToken[] }[] = [];
  let doLowerCase = false;
  let splitByPunct = false;
  if (useSpm) {
    let bytes: Uint8Array;
    try {
      bytes = fs.readFileSync(spmPath);
    } catch (e) {
      throw new Error(`${spmPath}: cannot read (${(e as Error).message})`);
    }
    model = SentencePieceModel.fromBytes(bytes, spmPath);
    if (config) {
      sources.push({ file: configPath, tokens: addedFromConfig(config, configPath) });
      doLowerCase = boolField(config, 'do_lower_case', configPath, '(root)', false);
      splitByPunct = boolField(config, 'split_by_punct', configPath, '(root)', false);
    }
    const addedJson = readJsonObject(addedPath);
    if (addedJson) sources.push({ file: addedPath, tokens: addedFromAddedTokensJson(addedJson, addedPath) });
  } else {
    // tokenizer.json holds the full pipeline (lower-casing and punctuation splitting included)
    // and the authoritative added-token list.
    let json: unknown;
    try {
      const text = fs.readFileSync(jsonPath, 'utf8');
      assertJsonDepth(text, jsonPath);
      json = JSON.parse(text);
    } catch (e) {
      if (e instanceof JsonDepthError) throw e;
      throw new Error(`${jsonPath}: not valid JSON (${(e as Error).message})`);
    }
    const parsed = parseTokenizerJson(json, jsonPath);
    model = parsed.model;
    sources.push({ file: jsonPath, tokens: parsed.addedTokens });
    if (config) sources.push({ file: configPath, tokens: addedFromConfig(config, configPath) });
  }

  const addedTokens = mergeAdded(sources);
  for (const t of addedTokens) {
    // An added token's id must not collide with a different vocabulary piece.
    const piece = model.idToPiece(t.id);
    if (piece !== undefined && piece !== t.content) {
      const file = sources.find((s) => s.tokens.includes(t))?.file ?? dir;
      throw new Error(`${file}: added token ${JSON.stringify(t.content)} has id ${t.id}, which is the vocabulary piece ${JSON.stringify(piece)}`);
    }
  }
  try {
    return new DebertaV2Tokenizer(model, { addedTokens, specialTokens: specials, doLowerCase, splitByPunct, cacheSize: options.cacheSize });
  } catch (e) {
    // Most constructor errors are about special tokens named in the config files.
    throw new Error(`${dir}: ${(e as Error).message} (see ${SPECIAL_MAP_FILE} / ${CONFIG_FILE})`);
  }
}
