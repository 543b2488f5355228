/**
 * The `gliner-tf` command line.
 *
 *   gliner-tf predict ...    entities in text (see `gliner-tf predict --help`)
 */
import * as fs from 'fs';
import * as path from 'path';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, InterruptedExit, UsageError, suggestCommand } from './cli-args';
import { runPredict } from './predict-command';
import { runTrain } from './train-command';
import { runEval } from './eval-command';

const COMMANDS: Record<string, { summary: string; run: (argv: string[]) => Promise<void> }> = {
  predict: { summary: 'find entities of any type in text', run: (argv) => runPredict(argv) },
  train: { summary: 'fine-tune a model on annotated data (checkpoints, resume)', run: (argv) => runTrain(argv) },
  eval: { summary: 'precision / recall / F1 of a model on annotated data', run: (argv) => runEval(argv) },
  // Loaded on use: neither command needs the prediction stack at startup.
  info: {
    summary: 'describe a model folder (family, sizes, parameters, weights, backend)',
    run: (argv) => (require('./info-command') as typeof import('./info-command')).runInfo(argv),
  },
  serve: {
    summary: 'HTTP service with dynamic batching and a demo page (see serve --help)',
    run: (argv) => (require('./serve-command') as typeof import('./serve-command')).runServe(argv),
  },
  queue: {
    summary: 'push a corpus to a Redis job queue, follow it, export results (see --help)',
    run: (argv) => (require('./queue-command') as typeof import('./queue-command')).runQueue(argv),
  },
  worker: {
    summary: 'predict chunks of a Redis job queue (run as many as you like, anywhere)',
    run: (argv) => (require('./queue-command') as typeof import('./queue-command')).runWorker(argv),
  },
  convert: {
    summary: 'convert pytorch_model.bin to model.safetensors (verified, atomic)',
    run: (argv) => (require('./convert-command') as typeof import('./convert-command')).runConvert(argv),
  },
  merge: {
    summary: 'average compatible checkpoints (uniform, weighted, greedy soup)',
    run: (argv) => (require('./merge-command') as typeof import('./merge-command')).runMerge(argv),
  },
  calibrate: {
    summary: 'per-label thresholds that maximise F1 on dev data',
    run: (argv) => (require('./calibrate-command') as typeof import('./calibrate-command')).runCalibrate(argv),
  },
};

export const MAIN_HELP = `Usage: gliner-tf <command> [options]

GLiNER named entity recognition for any entity type, in TypeScript on TensorFlow.js.

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`)
  .join('\n')}

Run 'gliner-tf <command> --help' for a command's options.

Environment:
  GLINER_TF_BACKEND=auto|tensorflow|wasm|cpu   backend when --backend is not given
  GLINER_TF_WASM_THREADS=N                     wasm threads (default: the number of cores)
  GLINER_TF_MEMORY_LIMIT_MB=N                  cap on memory held by tensors (wasm backend)
  HF_TOKEN, HF_HOME, HF_HUB_OFFLINE            Hugging Face hub access and cache
  GLINER_TF_DEBUG=1                            stack traces with errors`;

/** Our package.json is one folder up from tools/ and two from dist/tools/. */
function packageVersion(): string {
  for (const up of ['..', '../..']) {
    const file = path.join(__dirname, up, 'package.json');
    if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, 'utf8')).version;
  }
  return 'unknown';
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(MAIN_HELP + '\n');
    return command ? EXIT_OK : EXIT_USAGE;
  }
  if (command === '--version' || command === '-v') {
    process.stdout.write(`${packageVersion()}\n`);
    return EXIT_OK;
  }
  const cmd = COMMANDS[command];
  if (!cmd) {
    const hint = suggestCommand(command, Object.keys(COMMANDS));
    process.stderr.write(`gliner-tf: unknown command '${command}'${hint ? ` (did you mean '${hint}'?)` : ''}\n\n${MAIN_HELP}\n`);
    return EXIT_USAGE;
  }
  try {
    await cmd.run(rest);
    return EXIT_OK;
  } catch (e) {
    if (e instanceof InterruptedExit) return e.exitCode;
    if (e instanceof UsageError) {
      process.stderr.write(`gliner-tf ${command}: ${e.message}\nRun 'gliner-tf ${command} --help' for usage.\n`);
      return EXIT_USAGE;
    }
    process.stderr.write(`gliner-tf ${command}: ${(e as Error).message}\n`);
    if (process.env.GLINER_TF_DEBUG) process.stderr.write(`${(e as Error).stack}\n`);
    return EXIT_FAILURE;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
