/**
 * One trainer per output folder (src/training/output-lock.ts): a second `gliner-tf train` on the
 * same --output is refused with the holder's pid and host; the lock goes away on SIGTERM and is
 * taken over after the holder is SIGKILLed (its pid no longer runs) or its heartbeat is old.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ChildProcess, spawn } from 'child_process';
import { LOCK_FILE, OutputLock, OutputLockedError } from '../src/training/output-lock';
import { referenceModelDirs } from './helpers/reference';
import { syntheticNer } from './helpers/synthetic-ner';
import { CLI, ROOT, runCli } from './helpers/cli';

jest.setTimeout(300_000);

const MODEL_DIR = referenceModelDirs()[0];

function trainArgs(data: string, out: string, steps: number): string[] {
  return ['train', '--model', MODEL_DIR, '--data', data, '--output', out, '--steps', String(steps), '--batch-size', '2', '--eval-every', '0', '--seed', '1', '--backend', 'wasm', '--quiet'];
}

function startTrain(args: string[]): { child: ChildProcess; stderr: () => string; exited: Promise<{ code: number | null; signal: string | null }> } {
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', CLI, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, GLINER_TF_BACKEND: 'wasm' },
  });
  let err = '';
  child.stderr!.on('data', (d) => (err += String(d)));
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return { child, stderr: () => err, exited };
}

/** Waits until `file` exists (the trainer has taken its lock) or the child has exited. */
async function waitFor(file: string, exited: Promise<unknown>): Promise<void> {
  let done = false;
  void exited.then(() => (done = true));
  while (!fs.existsSync(file)) {
    if (done) throw new Error(`the trainer exited before creating ${file}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('exclusive lock on the training output folder', () => {
  let tmp: string;
  let data: string;
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gliner-lock-'));
    data = path.join(tmp, 'train.jsonl');
    fs.writeFileSync(data, syntheticNer(8, 'train', 2).map((r) => JSON.stringify(r)).join('\n') + '\n');
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test('in one process: a second acquire is refused naming the folder, pid and host; release frees it', () => {
    const dir = path.join(tmp, 'unit');
    const a = OutputLock.acquire(dir);
    let err: unknown;
    try {
      OutputLock.acquire(dir);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(OutputLockedError);
    expect((err as OutputLockedError).code).toBe('OUTPUT_LOCKED');
    expect((err as Error).message).toContain(dir);
    expect((err as Error).message).toContain(`pid ${process.pid} on host ${os.hostname()}`);
    a.release();
    a.release(); // twice is harmless
    expect(fs.existsSync(path.join(dir, LOCK_FILE))).toBe(false);
    const b = OutputLock.acquire(dir);
    b.release();
    // no temporary files are left next to the lock
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  test('a lock whose heartbeat is old is stale; a fresh one from another host is respected', () => {
    const dir = path.join(tmp, 'heartbeat');
    fs.mkdirSync(dir);
    const file = path.join(dir, LOCK_FILE);
    fs.writeFileSync(file, JSON.stringify({ pid: 1, host: 'elsewhere.example', started: '2020-01-01T00:00:00Z', token: 'x' }));
    expect(() => OutputLock.acquire(dir, { staleMs: 60_000 })).toThrow(/pid 1 on host elsewhere\.example/);
    const old = new Date(Date.now() - 120_000);
    fs.utimesSync(file, old, old);
    const told: string[] = [];
    const lock = OutputLock.acquire(dir, { staleMs: 60_000, onStale: (m) => told.push(m) });
    expect(told).toEqual([expect.stringMatching(/no heartbeat for 1[12]\d s from pid 1 on elsewhere\.example/)]);
    expect(JSON.parse(fs.readFileSync(file, 'utf8')).pid).toBe(process.pid);
    lock.release();
  });

  test('the holder refreshes its heartbeat', async () => {
    const dir = path.join(tmp, 'refresh');
    const lock = OutputLock.acquire(dir, { heartbeatMs: 50 });
    const file = path.join(dir, LOCK_FILE);
    const old = new Date(Date.now() - 3_600_000);
    fs.utimesSync(file, old, old);
    await new Promise((r) => setTimeout(r, 300));
    expect(Date.now() - fs.statSync(file).mtimeMs).toBeLessThan(60_000);
    lock.release();
  });

  test('two real trainers on one --output: the second exits 1 naming the folder and the first one\'s pid; SIGTERM releases the lock', async () => {
    const out = path.join(tmp, 'shared');
    const first = startTrain(trainArgs(data, out, 100_000));
    await waitFor(path.join(out, LOCK_FILE), first.exited);
    const second = runCli(trainArgs(data, out, 2));
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`${out} is in use by another training run (pid ${first.child.pid} on host ${os.hostname()}`);
    expect(fs.existsSync(path.join(out, 'final'))).toBe(false);

    first.child.kill('SIGTERM');
    const r = await first.exited;
    expect(first.stderr()).toContain('interrupted');
    expect(r.code).toBe(143); // stopped cleanly after a checkpoint: 128 + SIGTERM, as shells report it
    expect(fs.existsSync(path.join(out, LOCK_FILE))).toBe(false);
    expect(fs.readdirSync(out).some((n) => /^checkpoint-\d+$/.test(n))).toBe(true);
  });

  test('a lock left by a SIGKILLed trainer is taken over by the next run', async () => {
    const out = path.join(tmp, 'killed');
    const victim = startTrain(trainArgs(data, out, 100_000));
    const file = path.join(out, LOCK_FILE);
    await waitFor(file, victim.exited);
    victim.child.kill('SIGKILL');
    expect((await victim.exited).signal).toBe('SIGKILL');
    expect(JSON.parse(fs.readFileSync(file, 'utf8')).pid).toBe(victim.child.pid);

    const next = runCli([...trainArgs(data, out, 2)].filter((a) => a !== '--quiet'));
    expect(next.stderr).toContain(`taking over a stale lock (pid ${victim.child.pid} on this host is not running)`);
    expect(next.code).toBe(0);
    expect(fs.existsSync(path.join(out, 'final', 'model.safetensors'))).toBe(true);
    expect(fs.existsSync(file)).toBe(false);
  });
});
