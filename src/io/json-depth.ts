/**
 * Nesting depth of a JSON text, checked before parsing. JSON.parse copes with deep nesting, but
 * every reader that walks the result recursively (tokenizer.json's Sequence normalizers, say)
 * would die with "Maximum call stack size exceeded"; real files nest 5-8 levels deep.
 */

/** Deepest nesting accepted in model files. */
export const MAX_JSON_DEPTH = 64;

export class JsonDepthError extends Error {
  readonly code = 'JsonTooDeep';
}

/** Throws JsonDepthError (naming `source`) when `text` nests objects/arrays deeper than `max`. One linear pass. */
export function assertJsonDepth(text: string, source: string, max = MAX_JSON_DEPTH): void {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // Skip a string (escapes included); a malformed one is JSON.parse's to report.
      i++;
      while (i < text.length && text.charCodeAt(i) !== 0x22) i += text.charCodeAt(i) === 0x5c ? 2 : 1;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) {
        throw new JsonDepthError(`${source}: JSON nests deeper than ${max} levels (at character ${i}); no model file needs that, refusing it`);
      }
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
}
