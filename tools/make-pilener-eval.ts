/**
 * Writes a Pile-NER / Universal-NER style evaluation file in the per-type layout of UniNER's
 * CrossNER / MIT files: one conversation record per (text, entity type), each asking one
 * "What describes X in the text?" question. Texts come from the synthetic corpus the demo model
 * was trained on (held-out split), so `gliner-tf eval` with fixtures/models/demo gives sensible
 * scores. Used by the eval benchmark in BENCHMARKS.md; nothing large is committed.
 *
 *   npx ts-node --transpile-only tools/make-pilener-eval.ts --records 5000 --output /tmp/pilener-5000.json
 */
import * as fs from 'fs';
import { SYNTHETIC_LABELS, syntheticNer } from '../test/helpers/synthetic-ner';
import { arg } from './bench-util';

export function pileNerPerTypeRecords(numRecords: number, seed = 7): unknown[] {
  const texts = syntheticNer(Math.ceil(numRecords / SYNTHETIC_LABELS.length), 'heldout', seed);
  const out: unknown[] = [];
  texts.forEach((t, i) => {
    for (const label of SYNTHETIC_LABELS) {
      if (out.length >= numRecords) return;
      const mentions = [...new Set(t.ner.filter((s) => s[2] === label).map(([a, b]) => t.tokenized_text.slice(a, b + 1).join(' ')))];
      out.push({
        id: `${i}-${label}`,
        conversations: [
          { from: 'human', value: `Text: ${t.tokenized_text.join(' ')}` },
          { from: 'gpt', value: "I've read this text." },
          { from: 'human', value: `What describes ${label} in the text?` },
          { from: 'gpt', value: JSON.stringify(mentions) },
        ],
      });
    }
  });
  return out;
}

if (require.main === module) {
  const n = Number(arg('records', '5000'));
  const output = arg('output', `/tmp/pilener-per-type-${n}.json`);
  fs.writeFileSync(output, JSON.stringify(pileNerPerTypeRecords(n)) + '\n');
  process.stderr.write(`wrote ${n} records to ${output}\n`);
}
