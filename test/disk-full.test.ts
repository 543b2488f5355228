/**
 * A full disk while a checkpoint is being saved: the error says so (the file, ENOSPC, what
 * survived, what to do), nothing half-written is left, the previous checkpoint is byte for byte
 * what it was, and once space is back the same trainer saves again.
 *
 * Two ways: a write that fails part-way with ENOSPC (injected into fs, runs everywhere), and a
 * real full file system (a 3 MiB tmpfs; needs permission to mount, as root in CI has).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { GLiNER } from '../src/gliner';
import { Trainer, TrainingError } from '../src/training/trainer';
import { normalizeGlinerRecord } from '../src/training/data';
import { latestCheckpoint } from '../src/training/checkpoint';
import { referenceModelDirs } from './helpers/reference';
import { syntheticNer } from './helpers/synthetic-ner';

jest.setTimeout(120_000);

const MODEL_DIR = referenceModelDirs().find((d) => d.endsWith('tiny_buckets8')) ?? referenceModelDirs()[0];

function snapshot(dir: string): Map<string, Buffer> {
  return new Map(fs.readdirSync(dir).map((n) => [n, fs.readFileSync(path.join(dir, n))]));
}

function enospc(): NodeJS.ErrnoException {
  return Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
}

async function newTrainer(out: string): Promise<{ g: GLiNER; trainer: Trainer }> {
  const g = await GLiNER.fromPretrained(MODEL_DIR, { backend: 'wasm' });
  const examples = syntheticNer(8, 'train', 1).map((r) => normalizeGlinerRecord(r));
  const trainer = new Trainer(g, examples, { config: { numSteps: 1, saveSteps: 0, trainBatchSize: 2 }, outputDir: out, sourceDir: MODEL_DIR });
  return { g, trainer };
}

function expectDiskFullError(e: unknown, out: string): void {
  expect(e).toBeInstanceOf(TrainingError);
  const msg = (e as Error).message;
  expect(msg).toContain(`cannot save ${path.join(out, 'checkpoint-1')}`);
  expect(msg).toContain('no space left on device (ENOSPC)');
  expect(msg).toContain(`the last checkpoint ${path.join(out, 'checkpoint-0')} is intact`);
  expect(msg).toContain('free disk space');
  expect(msg).toContain('--resume auto');
}

describe('disk full while saving a checkpoint', () => {
  test('a write failing part-way with ENOSPC: clear error, previous checkpoint intact, nothing left over', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'gliner-enospc-'));
    const { g, trainer } = await newTrainer(out);
    try {
      await trainer.saveCheckpoint();
      const before = snapshot(path.join(out, 'checkpoint-0'));

      // model.safetensors of the next save gets half its bytes written, then the disk is full
      const realOpen = fs.promises.open;
      let failed = 0;
      const spy = jest.spyOn(fs.promises, 'open').mockImplementation(async (file, flags, mode) => {
        const handle = await realOpen(file, flags, mode);
        if (/checkpoint-1\.tmp-.*model\.safetensors\.tmp-/.test(String(file))) {
          handle.writeFile = async (data: unknown) => {
            const bytes = data as Uint8Array;
            await handle.write(bytes, 0, bytes.byteLength >> 1);
            failed++;
            throw enospc();
          };
        }
        return handle;
      });
      let err: unknown;
      try {
        await trainer.train();
      } catch (e) {
        err = e;
      } finally {
        spy.mockRestore();
      }
      expect(failed).toBe(1);
      expectDiskFullError(err, out);
      expect(fs.readdirSync(out).filter((n) => n !== 'metrics.jsonl')).toEqual(['checkpoint-0']);
      expect(snapshot(path.join(out, 'checkpoint-0'))).toEqual(before);
      expect(latestCheckpoint(out)!.step).toBe(0);

      // space is back: the same trainer saves the step it had reached
      await trainer.saveCheckpoint();
      expect(fs.readdirSync(out).filter((n) => n !== 'metrics.jsonl').sort()).toEqual(['checkpoint-0', 'checkpoint-1']);
    } finally {
      trainer.dispose();
      g.dispose();
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  // A real full file system: a small tmpfs. Mounting needs privileges (root in CI and here).
  const mountRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'gliner-tmpfs-'));
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', mountRoot]).status === 0;
  afterAll(() => {
    if (mounted) spawnSync('umount', [mountRoot]);
    fs.rmSync(mountRoot, { recursive: true, force: true });
  });
  if (!mounted) console.warn(`disk-full test on a real file system skipped: cannot mount a tmpfs at ${mountRoot} (needs root)`);
  (mounted ? test : test.skip)('a real 3 MiB file system filling up during a save', async () => {
    const out = path.join(mountRoot, 'run');
    const { g, trainer } = await newTrainer(out);
    try {
      await trainer.saveCheckpoint(); // ~1.1 MB
      const before = snapshot(path.join(out, 'checkpoint-0'));
      // leave 400 KiB: the next checkpoint's config and tokenizer fit, its weights do not
      const free = () => {
        const s = fs.statfsSync(mountRoot);
        return s.bavail * s.bsize;
      };
      const filler = path.join(mountRoot, 'filler');
      fs.writeFileSync(filler, Buffer.alloc(free() - 400 * 1024));
      let err: unknown;
      try {
        await trainer.train();
      } catch (e) {
        err = e;
      }
      expectDiskFullError(err, out);
      expect(fs.readdirSync(out).filter((n) => n !== 'metrics.jsonl')).toEqual(['checkpoint-0']);
      expect(snapshot(path.join(out, 'checkpoint-0'))).toEqual(before);
      expect(free()).toBeGreaterThanOrEqual(400 * 1024 - 64 * 1024); // the partial files were removed

      fs.rmSync(filler);
      await trainer.saveCheckpoint();
      expect(latestCheckpoint(out)!.step).toBe(1);
      const back = await GLiNER.fromPretrained(path.join(out, 'checkpoint-1'), { backend: 'wasm' });
      back.dispose();
    } finally {
      trainer.dispose();
      g.dispose();
    }
  });
});
