/**
 * All benchmarks in one command, each writing its section of BENCHMARKS.md:
 *
 *   npm run bench                     matmul limit; gliner_small-v2.1 full sweep with training and
 *                                     the tfjs-kernel baseline; medium, large and multi at
 *                                     200 words x 5 labels x batch 8
 *   npm run bench -- --quick          the same, every family at 200 words x 5 labels x batch 8 only
 *   npm run bench -- --families gliner_small-v2.1,gliner_large-v2.1
 *
 * Each tool runs in its own processes (tools/bench-*.ts); run on an otherwise idle machine, since
 * the figures compare thread counts and kernels side by side. On this project's 2-core machine
 * the default run takes about 27 minutes (--quick: about 20).
 */
import { spawnSync } from 'child_process';
import * as path from 'path';
import { DEFAULT_BENCH_FAMILY, arg } from './bench-util';

const ALL = [DEFAULT_BENCH_FAMILY, 'gliner_medium-v2.1', 'gliner_large-v2.1', 'gliner_multi-v2.1'];


function run(script: string, args: string[]): void {
  const argv = ['-r', 'ts-node/register/transpile-only', path.join(__dirname, script), ...args, '--write'];
  process.stderr.write(`\n== ${script} ${args.join(' ')}\n`);
  const r = spawnSync(process.execPath, argv, { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`${script} ${args.join(' ')} failed (exit ${r.status})`);
}

function main(): void {
  const quick = process.argv.includes('--quick');
  const families = (arg('families') ?? ALL.join(',')).split(',').filter(Boolean);
  run('bench-matmul.ts', ['--rounds', '2', '--reps', '5']);
  for (const family of families) {
    if (family === DEFAULT_BENCH_FAMILY) run('bench-model.ts', ['--family', family, '--train-baseline', '--rounds', '1', ...(quick ? ['--quick'] : [])]);
    else run('bench-model.ts', ['--family', family, '--quick', '--no-train', '--rounds', '1']);
  }
}

try {
  main();
} catch (e) {
  console.error((e as Error).message);
  process.exitCode = 1;
}
