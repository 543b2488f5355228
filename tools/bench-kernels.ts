/**
 * Which kernels a GLiNER forward pass or training step runs, how often and for how long, on the
 * active backend (tf.profile: wasm kernels are synchronous, so per-kernel times are exact), and
 * which path each BatchMatMul took in our wasm kernel (kernels/batch-matmul.ts).
 *
 *   npx ts-node tools/bench-kernels.ts [--mode infer|train] [--batch 8] [--words 200] [--labels 5]
 *       [--threads N] [--tfjs-matmul] [--top 25] [--split Add,Transpose] [--family gliner_small-v2.1]
 *
 * --tfjs-matmul puts tfjs's own BatchMatMul back, to see what it costs.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend';
import { resetWasmMatMulStats, unregisterWasmBatchMatMul, wasmMatMulStats } from '../src/kernels';
import { arg, benchConfig, DEFAULT_BENCH_FAMILY, fmt, randomModel, syntheticInput, trainStep } from './bench-util';

export interface KernelRow {
  name: string;
  calls: number;
  ms: number;
}

/** Aggregate a tf.profile result by kernel name (and, for matmuls, by input shapes). */
export function aggregate(kernels: { name: string; kernelTimeMs: unknown; inputShapes: (number[] | null)[] }[], split: ReadonlySet<string>): KernelRow[] {
  const rows = new Map<string, KernelRow>();
  for (const k of kernels) {
    const key = split.has(k.name) ? `${k.name} ${k.inputShapes.map((s) => `[${s}]`).join('x')}` : k.name;
    const row = rows.get(key) ?? { name: key, calls: 0, ms: 0 };
    row.calls++;
    row.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    rows.set(key, row);
  }
  return [...rows.values()].sort((a, b) => b.ms - a.ms);
}


async function main(): Promise<void> {
  const mode = arg('mode', 'infer');
  const B = Number(arg('batch', '8'));
  const words = Number(arg('words', '200'));
  const labels = Number(arg('labels', '5'));
  const top = Number(arg('top', '25'));
  const threadsArg = arg('threads', '');
  const info = await initBackend('wasm', threadsArg ? { threads: Number(threadsArg) } : {});
  if (process.argv.includes('--tfjs-matmul')) unregisterWasmBatchMatMul();
  console.log(`backend ${info.name}, ${info.threads} thread(s)${info.note ? ` (${info.note})` : ''}; ${mode}, batch ${B}, ${words} words, ${labels} labels`);

  const config = benchConfig(arg('family', DEFAULT_BENCH_FAMILY));
  const model = randomModel(config);
  const input = syntheticInput(config, B, words, labels);
  console.log(`tokens per row ${input.seqLength}`);

  let work: () => void;
  if (mode === 'infer') {
    work = () => {
      const { logits } = model.forward(input);
      logits.dataSync();
      logits.dispose();
    };
  } else {
    work = trainStep(model, config, B, words, labels);
  }
  work(); // warm-up: operator creation, heap growth
  resetWasmMatMulStats();
  const t0 = Date.now();
  const profile = await tf.profile(() => work());
  const wall = Date.now() - t0;
  const total = profile.kernels.reduce((s, k) => s + (typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0), 0);
  console.log(`wall ${wall} ms (profiled), kernel time ${fmt(total)} ms, ${profile.kernels.length} kernel calls, peak ${fmt(profile.peakBytes / 2 ** 20)} MiB in tensors`);
  console.log('\nby kernel:');
  for (const r of aggregate(profile.kernels, new Set()).slice(0, top)) {
    console.log(`  ${r.name.padEnd(24)} ${String(r.calls).padStart(6)} calls ${fmt(r.ms).padStart(9)} ms ${fmt((100 * r.ms) / total).padStart(5)}%`);
  }
  // --split Add,Transpose lists those kernels by input shapes as well.
  const split = new Set(['BatchMatMul', ...arg('split', '').split(',').filter(Boolean)]);
  for (const name of split) {
    console.log(`\n${name} by input shapes:`);
    for (const r of aggregate(profile.kernels, split).filter((r) => r.name.startsWith(`${name} `)).slice(0, top)) {
      console.log(`  ${r.name.padEnd(56)} ${String(r.calls).padStart(5)} calls ${fmt(r.ms).padStart(9)} ms`);
    }
  }
  const st = wasmMatMulStats();
  const g = (f: number) => fmt(f / 1e9, 2);
  console.log(
    `\nBatchMatMul paths (our kernel): direct ${st.direct.calls} (${g(st.direct.flops)} GFLOP), folded ${st.folded.calls} (${g(st.folded.flops)} GFLOP), ` +
      `sliced ${st.sliced.calls} / ${st.sliced.slices} slices (${g(st.sliced.flops)} GFLOP), other ${st.other.calls}`,
  );
  model.dispose();
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exitCode = 1;
  });
}
