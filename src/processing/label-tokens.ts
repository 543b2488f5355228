/**
 * Labels must not contain the tokenizer's special or added tokens (<<ENT>>, <<SEP>>, [FLERT],
 * [CLS], [SEP], [PAD], [MASK], ...). The tokenizer matches added tokens anywhere inside a word,
 * so a label "person <<ENT>>" becomes two class prompts: every later label shifts by one
 * (predictions come out under the wrong names) and, in training, the batch no longer has as
 * many prompts as types. This is the one check used by prediction, training-data reading and
 * prompt building (buildBatch), so all of them refuse the same labels with the same message.
 */
import type { PromptTokens } from './batch';

/** What the check needs from a tokenizer: its added tokens (special ones included). */
export interface ReservedTokenSource {
  addedTokens?(): readonly { content: string }[];
  readonly specialTokens?: Readonly<object>;
}

/** The problem, without a location (readers add FILE:LINE and the key). */
export function reservedTokenProblem(label: string, token: string): string {
  return (
    `the label ${JSON.stringify(label)} contains the tokenizer's special token ${JSON.stringify(token)}, ` +
    'which would split it into extra prompt entries and shift every later label; remove or rename it'
  );
}

export class LabelTokenError extends Error {
  readonly code = 'LABEL_CONTAINS_SPECIAL_TOKEN';
  constructor(
    readonly label: string,
    readonly token: string,
    where: string,
  ) {
    super(`${where}: ${reservedTokenProblem(label, token)}`);
    this.name = 'LabelTokenError';
  }
}

/** Every string the tokenizer turns into a reserved id when it appears inside a word. */
export function reservedTokens(tokenizer: ReservedTokenSource, prompt: PromptTokens): string[] {
  const out = new Set<string>([prompt.entToken, prompt.sepToken, '[FLERT]']);
  for (const t of tokenizer.addedTokens?.() ?? []) if (t.content !== '') out.add(t.content);
  for (const t of Object.values(tokenizer.specialTokens ?? {})) if (typeof t === 'string' && t !== '') out.add(t);
  // Longest first, so "<<ENT>>x" is reported as the longest token it holds.
  return [...out].sort((a, b) => b.length - a.length);
}

/** The first reserved token found inside `label`, or null. */
export function findReservedToken(label: string, reserved: readonly string[]): string | null {
  for (const t of reserved) if (label.includes(t)) return t;
  return null;
}

/** Throws LabelTokenError (naming `where`) for the first label holding a reserved token. */
export function checkLabelTokens(labels: readonly string[], reserved: readonly string[], where: (i: number) => string): void {
  labels.forEach((label, i) => {
    const t = findReservedToken(label, reserved);
    if (t !== null) throw new LabelTokenError(label, t, where(i));
  });
}
