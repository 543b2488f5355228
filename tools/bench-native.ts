/**
 * The native matrix path (kernels/native-blas.ts: system BLAS on the wasm heap) against the wasm
 * backend's own XNNPACK products, side by side: gliner_small-v2.1 size random weights (or
 * --family), forward passes at 8 x 200 and 1 x 200 words x 5 labels and one training step at
 * 2 x 200 words, at 1 and 2 threads. Each (path, threads) runs in its own process; rounds
 * alternate the four so background load hits them alike; each figure is the best round's median.
 * The native child also reports the largest logit difference between the two paths on one input.
 *
 *   npx ts-node --transpile-only tools/bench-native.ts [--rounds 2] [--family NAME] [--write]
 *
 * OpenBLAS picks its kernel from the CPU unless OPENBLAS_CORETYPE says otherwise; the report
 * names the kernel each run used.
 */
import * as os from 'os';
import { initBackend } from '../src/backend';
import { nativeMatMulState, setNativeMatMul } from '../src/kernels/native-blas';
import { arg, benchConfig, DEFAULT_BENCH_FAMILY, fmt, machineLine, peakRssMb, randomModel, runChild, syntheticInput, timeMedian, trainStep, writeBenchmarkSection } from './bench-util';

interface ChildResult {
  path: 'native' | 'xnnpack';
  threads: number;
  matmul: string;
  forward8x200: number;
  forward1x200: number;
  train2x200: number;
  peakRssMb: number;
  maxLogitDiff: number | null;
}

async function child(pathName: 'native' | 'xnnpack', threads: number, family: string): Promise<ChildResult> {
  const info = await initBackend('wasm', { threads });
  setNativeMatMul(pathName === 'native');
  const config = benchConfig(family);
  const model = randomModel(config);
  const forward = (input: ReturnType<typeof syntheticInput>) => () => {
    const { logits } = model.forward(input);
    logits.dataSync();
    logits.dispose();
  };
  const big = syntheticInput(config, 8, 200, 5);
  const one = syntheticInput(config, 1, 200, 5, 1);
  const forward8x200 = timeMedian(forward(big), 3, 1).median;
  const forward1x200 = timeMedian(forward(one), 5, 1).median;
  const train2x200 = timeMedian(trainStep(model, config, 2, 200, 5), 2, 1).median;
  let maxLogitDiff: number | null = null;
  if (pathName === 'native') {
    const run = () => {
      const { logits } = model.forward(one);
      const d = logits.dataSync().slice();
      logits.dispose();
      return d;
    };
    const a = run();
    setNativeMatMul(false);
    const b = run();
    setNativeMatMul(true);
    maxLogitDiff = 0;
    for (let i = 0; i < a.length; i++) maxLogitDiff = Math.max(maxLogitDiff, Math.abs(a[i] - b[i]));
  }
  model.dispose();
  return {
    path: pathName,
    threads: info.threads ?? 1,
    matmul: nativeMatMulState().detail,
    forward8x200,
    forward1x200,
    train2x200,
    peakRssMb: peakRssMb(),
    maxLogitDiff,
  };
}

function report(results: ChildResult[], family: string, command: string, load: string): string {
  const best = (p: string, t: number, key: 'forward8x200' | 'forward1x200' | 'train2x200') =>
    Math.min(...results.filter((r) => r.path === p && r.threads === t).map((r) => r[key]));
  const rows: string[] = [];
  for (const t of [1, 2]) {
    const cells = (['forward8x200', 'forward1x200', 'train2x200'] as const).map((k) => {
      const x = best('xnnpack', t, k);
      const n = best('native', t, k);
      return `${fmt(x / 1000, 2)} s -> ${fmt(n / 1000, 2)} s (**${fmt(x / n, 2)}x**)`;
    });
    rows.push(`| ${t} | ${cells.join(' | ')} |`);
  }
  const native = results.find((r) => r.path === 'native')!;
  const diff = Math.max(...results.filter((r) => r.maxLogitDiff !== null).map((r) => r.maxLogitDiff!));
  return [
    `### Native matrix path vs XNNPACK (${family}, 5 labels)`,
    '',
    `Command: \`${command}\`. ${machineLine()}. BLAS: ${native.matmul.replace(/, \d+ threads?/, '')}. Load average (1 min) at start / end: ${load}.`,
    `Each cell: XNNPACK (wasm SIMD) time -> native BLAS time (speed-up), best of ${results.length / 4} alternating rounds, median of 3-5 runs each.`,
    '',
    '| threads | forward 8 x 200 words | forward 1 x 200 words | training step 2 x 200 words |',
    '|---|---|---|---|',
    ...rows,
    '',
    `Largest logit difference between the two paths on the 1 x 200 input: ${diff.toExponential(2)}. Peak RSS (largest child): ${fmt(Math.max(...results.map((r) => r.peakRssMb)), 0)} MB.`,
  ].join('\n');
}

async function main(): Promise<void> {
  if (process.argv.includes('--child')) {
    const r = await child(arg('path') as 'native' | 'xnnpack', Number(arg('threads')), arg('family', DEFAULT_BENCH_FAMILY));
    process.stdout.write(`RESULT ${JSON.stringify(r)}\n`);
    return;
  }
  const state = nativeMatMulState();
  if (!state.available) throw new Error(`the native matrix path is not built (${state.detail}); run: node scripts/build-native.js`);
  const rounds = Number(arg('rounds', '2'));
  const family = arg('family', DEFAULT_BENCH_FAMILY);
  const results: ChildResult[] = [];
  const loadAtStart = os.loadavg()[0].toFixed(1);
  for (let r = 0; r < rounds; r++) {
    for (const threads of [1, 2]) {
      for (const p of ['xnnpack', 'native'] as const) {
        const res = runChild<ChildResult>(__filename, ['--child', '--path', p, '--threads', String(threads), '--family', family]);
        process.stderr.write(`round ${r + 1}: ${p} x ${threads} thread(s): forward 8x200 ${fmt(res.forward8x200, 0)} ms, 1x200 ${fmt(res.forward1x200, 0)} ms, train 2x200 ${fmt(res.train2x200, 0)} ms\n`);
        results.push(res);
      }
    }
  }
  const md = report(results, family, `npx ts-node --transpile-only tools/bench-native.ts --rounds ${rounds}${family === DEFAULT_BENCH_FAMILY ? '' : ` --family ${family}`}`, `${loadAtStart} / ${os.loadavg()[0].toFixed(1)}`);
  process.stdout.write(md + '\n');
  if (process.argv.includes('--write')) writeBenchmarkSection(`bench-native ${family}`, md);
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
