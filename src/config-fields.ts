/**
 * Config field tables: one table per config type lists each JSON key, the typed property it
 * fills, its type and its default; the same table parses a file and writes one, so a key cannot
 * be read under one name and written under another. Keys with extra rules (resolved defaults,
 * legacy spellings) give `read` / `write` hooks next to their entry.
 */
type Json = Record<string, unknown>;

export type FieldType = 'int' | 'number' | 'string' | 'boolean' | 'any';

export interface Field<T> {
  /** The JSON key, as upstream (transformers / GLiNER) writes it. */
  key: string;
  /** The typed property it fills. */
  prop: keyof T & string;
  type: FieldType;
  /** Value when the key is absent or null; a function sees the raw object (defaults that depend on other keys). */
  default: unknown | ((raw: Json) => unknown);
  /** Allowed values, checked after reading. */
  oneOf?: readonly unknown[];
  /** Raw (type-checked) value -> property value. */
  read?: (value: unknown, raw: Json, source: string) => unknown;
  /** Property value -> JSON value; `undefined` leaves the key out. */
  write?: (value: unknown, config: T) => unknown;
}

const CHECKS: Record<FieldType, [(v: unknown) => boolean, string]> = {
  int: [(v) => Number.isInteger(v), 'an integer'],
  number: [(v) => typeof v === 'number' && Number.isFinite(v), 'a number'],
  string: [(v) => typeof v === 'string', 'a string'],
  boolean: [(v) => typeof v === 'boolean', 'true or false'],
  any: [() => true, 'anything'],
};

/** Read every field of `table` from `raw`; errors name `source` and the key. */
export function readFields<T>(table: readonly Field<T>[], raw: Json, source: string): Pick<T, (typeof table)[number]['prop']> {
  const out: Record<string, unknown> = {};
  for (const f of table) {
    let v = raw[f.key];
    if (v === undefined || v === null) {
      v = typeof f.default === 'function' ? (f.default as (r: Json) => unknown)(raw) : f.default;
    } else {
      const [ok, what] = CHECKS[f.type];
      if (!ok(v)) throw new Error(`${source}: key '${f.key}' must be ${what}, got ${JSON.stringify(v)}`);
    }
    if (f.read) v = f.read(v, raw, source);
    if (f.oneOf && !f.oneOf.includes(v)) {
      throw new Error(`${source}: ${f.key} '${String(v)}' is not supported (${f.oneOf.map((x) => `'${String(x)}'`).join(', ')})`);
    }
    out[f.prop] = v;
  }
  return out as Pick<T, (typeof table)[number]['prop']>;
}

/** The JSON keys of `table` for a config, in table order. */
export function writeFields<T>(table: readonly Field<T>[], config: T): Json {
  const out: Json = {};
  for (const f of table) {
    const value = (config as Record<string, unknown>)[f.prop];
    const v = f.write ? f.write(value, config) : value;
    if (v !== undefined) out[f.key] = v;
  }
  return out;
}
