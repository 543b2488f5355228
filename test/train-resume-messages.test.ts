/**
 * What `gliner-tf train` says when a resume cannot work, and Ctrl-C: save, then exit 130.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CLI, ROOT, cliInProcess } from './helpers/cli';

const TRAIN = 'fixtures/data/synthetic-train.jsonl';
const DEV = 'fixtures/data/synthetic-dev.jsonl';
let dir: string;
beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gliner-resume-msg-'))));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('--resume last says to use --resume auto', async () => {
  const r = await cliInProcess(['train', '--model', 'fixtures/models/demo', '--data', TRAIN, '--output', path.join(dir, 'a'), '--steps', '1', '--resume', 'last']);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('--resume last: use --resume auto for the latest checkpoint in --output');
});

test('a resume with other data says why it cannot continue and what to do instead', async () => {
  const out = path.join(dir, 'b');
  const first = await cliInProcess(['train', '--model', 'fixtures/models/demo', '--data', TRAIN, '--output', out, '--steps', '2', '--save-steps', '1', '--eval-every', '0', '--quiet']);
  expect(first.code).toBe(0);
  const r = await cliInProcess(['train', '--data', DEV, '--output', out, '--steps', '4', '--resume', 'auto', '--quiet']);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/was trained on 48 examples but this training data has 16: .* start a new run from the checkpoint's weights: --model .*checkpoint-2 without --resume/);
});

test('Ctrl-C saves a checkpoint and exits with 130', async () => {
  const out = path.join(dir, 'c');
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', CLI, 'train', '--model', 'fixtures/models/demo', '--data', TRAIN, '--output', out, '--steps', '5000', '--eval-every', '0'], {
    cwd: ROOT,
    env: { ...process.env, GLINER_TF_BACKEND: 'wasm' },
  });
  let stderr = '';
  const code = await new Promise<number | null>((resolve) => {
    child.stderr.on('data', (c) => {
      stderr += String(c);
      if (/^step 10\/5000 /m.test(stderr) && !child.killed) child.kill('SIGINT');
    });
    child.on('exit', (c) => resolve(c));
  });
  expect(stderr).toContain('interrupted: finishing the current update and saving a checkpoint');
  expect(code).toBe(130);
  const saved = fs.readdirSync(out).filter((f) => f.startsWith('checkpoint-'));
  expect(saved).toHaveLength(1);
  expect(stderr).toContain(`continue with --resume auto --output ${out}`);
});
