/**
 * Running the command line and the repo's TypeScript tools from tests: as a user does (a child
 * process through ts-node, so a stale build is never seen), or main() in this process with its
 * output captured (no start-up cost).
 */
import { spawnSync } from 'child_process';
import * as path from 'path';
import { main } from '../../tools/cli';

export const ROOT = path.join(__dirname, '..', '..');
export const CLI = path.join(ROOT, 'tools', 'cli.ts');

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Standard input. */
  input?: string;
  cwd?: string;
  /** Added to the environment (which has GLINER_TF_BACKEND=wasm). */
  env?: Record<string, string>;
}

/** A TypeScript file of this repo (and its arguments) in a child process. */
export function runTs(args: string[], options: RunOptions = {}): RunResult {
  const r = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', ...args], {
    cwd: options.cwd ?? ROOT,
    input: options.input,
    encoding: 'utf8',
    env: { ...process.env, GLINER_TF_BACKEND: 'wasm', ...options.env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `gliner-tf ARGS` in a child process. */
export function runCli(args: string[], options: RunOptions = {}): RunResult {
  return runTs([CLI, ...args], options);
}

/** `gliner-tf ARGS` as main() in this process, with standard output and error captured. */
export async function cliInProcess(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = jest.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => ((stdout += String(c)), true));
  const err = jest.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => ((stderr += String(c)), true));
  try {
    const code = await main(args);
    return { code, stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}
