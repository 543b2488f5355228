/**
 * Label descriptions (as upstream GLiNER's dict labels): an entity type may come with a
 * description, e.g. {"person": "first name and surname of a person"}. The description is what
 * the model is prompted with; the type name is what entities and metrics carry.
 *
 * Labels are given either as a list of names or as an object name -> description (an empty
 * description, or null, prompts the name itself).
 */

/** Entity labels: names, or names with the text to prompt for each. */
export type LabelSpec = readonly string[] | Readonly<Record<string, string | null>>;

export interface ResolvedLabels {
  /** Names, de-duplicated in order: what entities are labelled with. */
  names: string[];
  /** What is prompted for each name (the description, or the name). */
  prompts: string[];
}

export class LabelDescriptionError extends Error {
  readonly code = 'LABEL_DESCRIPTION';
  constructor(message: string) {
    super(message);
    this.name = 'LabelDescriptionError';
  }
}

/** True for a name -> description object (not an array, not null). */
export function isDescriptionMap(v: unknown): v is Readonly<Record<string, string | null>> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Names and prompts of a label spec; `where` names it in errors. A list passes through (the
 * caller validates names); an object's keys must be non-empty and its values strings or null.
 */
export function resolveLabelSpec(spec: LabelSpec, where = 'labels'): ResolvedLabels {
  if (Array.isArray(spec)) {
    const names = [...new Set(spec as readonly string[])];
    return { names, prompts: names };
  }
  if (!isDescriptionMap(spec)) throw new TypeError(`${where} must be an array of strings or an object of "label": "description"`);
  const names: string[] = [];
  const prompts: string[] = [];
  for (const [name, desc] of Object.entries(spec)) {
    if (name.trim() === '') throw new LabelDescriptionError(`${where} has an empty label name`);
    if (desc !== null && typeof desc !== 'string') {
      throw new LabelDescriptionError(`${where}.${name}: the description must be a string (or null), got ${typeof desc}`);
    }
    names.push(name);
    prompts.push(desc === null || desc.trim() === '' ? name : desc);
  }
  return { names, prompts };
}

/** Prompts for `names` given a description map (names without a description prompt themselves). */
export function promptsFor(names: readonly string[], descriptions: Readonly<Record<string, string>> | undefined): string[] {
  if (!descriptions) return [...names];
  return names.map((n) => (Object.prototype.hasOwnProperty.call(descriptions, n) ? descriptions[n] : n));
}

/** The descriptions of several examples merged (the first description of a type wins). */
export function mergeDescriptions(list: readonly (Readonly<Record<string, string>> | undefined)[]): Record<string, string> | undefined {
  let out: Record<string, string> | undefined;
  for (const d of list) {
    if (!d) continue;
    for (const [k, v] of Object.entries(d)) if (!(out ??= {})[k]) out[k] = v;
  }
  return out;
}

/**
 * A label whose prompt would not fit: `tokens` sub-tokens where a label may take at most
 * `limit`. The message names the label (and says whether it is the description that is long).
 */
export function labelTooLong(name: string, prompt: string, tokens: number, limit: number): LabelDescriptionError {
  const what = prompt === name ? `label '${name}'` : `the description of label '${name}'`;
  return new LabelDescriptionError(
    `${what} is ${tokens} tokens long, more than the ${limit} tokens a label's prompt may take (half the encoder window); shorten it`,
  );
}
