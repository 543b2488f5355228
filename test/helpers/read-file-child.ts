/**
 * Child process for the bomb tests: reads one hostile file with one of our readers and prints
 * one JSON line { ok, message, baselineRss, peakRss, ms }. Run with a small V8 heap
 * (--max-old-space-size) so a reader without a budget dies instead of passing slowly.
 *
 *   node -r ts-node/register/transpile-only read-file-child.ts weights|tokenizer|config FILE
 */
import * as path from 'path';
import { readWeightsFile } from '../../src/io/weights-file';
import { loadTokenizerFromDir } from '../../src/io/tokenizer-files';
import { readGlinerConfig } from '../../src/io/model-dir';

async function main(): Promise<void> {
  const [kind, file] = process.argv.slice(2);
  const baselineRss = process.memoryUsage().rss;
  const t0 = Date.now();
  let ok = true;
  let message = '';
  try {
    if (kind === 'weights') await readWeightsFile(file);
    else if (kind === 'tokenizer') loadTokenizerFromDir(path.dirname(file));
    else if (kind === 'config') readGlinerConfig(path.dirname(file));
    else throw new Error(`unknown reader ${kind}`);
  } catch (e) {
    ok = false;
    message = (e as Error).message;
  }
  const peakRss = process.resourceUsage().maxRSS * 1024;
  process.stdout.write(`${JSON.stringify({ ok, message, baselineRss, peakRss, ms: Date.now() - t0 })}\n`);
}

void main();
