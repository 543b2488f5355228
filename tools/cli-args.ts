/**
 * Small helpers for the command line: typed option parsing on top of node's util.parseArgs,
 * with usage errors that name the option, and exit codes scripts can rely on.
 */
import { parseArgs, ParseArgsConfig } from 'util';
import { didYouMean } from '../src/training/train-config';

/** 0 success, 1 the work failed (bad file, bad model...), 2 the command line was wrong. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export class UsageError extends Error {}

/** 130 (128 + SIGINT), as shells report a Ctrl-C. */
export const EXIT_INTERRUPTED = 130;

/** Exit status after a signal, by shell convention 128 + its number: SIGINT 130, SIGTERM 143. */
export function signalExitCode(signal: 'SIGINT' | 'SIGTERM'): number {
  return signal === 'SIGTERM' ? 143 : EXIT_INTERRUPTED;
}

/** The command stopped on a signal (Ctrl-C, SIGTERM) after saving its work: exit 128 + the signal's number, no message. */
export class InterruptedExit extends Error {
  constructor(readonly exitCode: number = EXIT_INTERRUPTED) {
    super('interrupted');
    this.name = 'InterruptedExit';
  }
}

export type Options = NonNullable<ParseArgsConfig['options']>;

export function parseCommand(argv: string[], options: Options): Record<string, string | boolean | undefined> {
  try {
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'`);
    return values as Record<string, string | boolean | undefined>;
  } catch (e) {
    if (e instanceof UsageError) throw e;
    const message = (e as Error).message.replace(/\. To specify a positional argument.*$/, '');
    const unknown = /^Unknown option '(--?[^']+)'/.exec(message);
    if (unknown) {
      const hint = suggestOption(unknown[1], options);
      throw new UsageError(`unknown option '${unknown[1]}'${hint ? ` (did you mean '${hint}'?)` : ''}`);
    }
    throw new UsageError(message);
  }
}

/** The known flag closest to `flag` ('--label' -> '--labels'), or undefined. */
export function suggestOption(flag: string, options: Options): string | undefined {
  const name = flag.replace(/^--?/, '').split('=')[0];
  const names = Object.keys(options);
  const byNormal = new Map(names.map((n) => [n.toLowerCase().replace(/-/g, '_'), n]));
  const hit = didYouMean(name, [...byNormal.keys()]);
  return hit === undefined ? undefined : `--${byNormal.get(hit)}`;
}

/** The known command closest to `word` ('predcit' -> 'predict'), or undefined. */
export function suggestCommand(word: string, commands: readonly string[]): string | undefined {
  return didYouMean(word, commands);
}

export function numberOption(values: Record<string, unknown>, name: string, fallback: number, check: (v: number) => boolean, what: string): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(v) || !check(v)) {
    throw new UsageError(`--${name} must be ${what}, got '${String(raw)}'`);
  }
  return v;
}

export function requireOption(values: Record<string, unknown>, name: string): string {
  const v = values[name];
  if (typeof v !== 'string' || v === '') throw new UsageError(`--${name} is required`);
  return v;
}
