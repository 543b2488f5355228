/**
 * Corpora for the scale-out tests: short documents from the synthetic NER sentences (which the
 * demo model was trained on, so entities are found), some with their own labels, and every
 * `longEvery`-th one long enough (> 384 words, the demo model's max_len) to be windowed.
 */
import { syntheticNer, SYNTHETIC_LABELS } from './synthetic-ner';

export interface CorpusDoc {
  id: string;
  text: string;
  labels?: string[];
}

export const CORPUS_LABELS = [...SYNTHETIC_LABELS];

export function makeCorpus(n: number, seed: number, opts: { longEvery?: number } = {}): CorpusDoc[] {
  const sentences = syntheticNer(n + 60, 'heldout', seed).map((r) => r.tokenized_text.join(' '));
  const docs: CorpusDoc[] = [];
  for (let i = 0; i < n; i++) {
    let text = sentences[i];
    if (opts.longEvery && i % opts.longEvery === opts.longEvery - 1) {
      const parts: string[] = [];
      for (let k = 0; parts.join(' ').split(' ').length < 450; k++) parts.push(sentences[(i + k) % sentences.length]);
      text = parts.join(' ');
    }
    const doc: CorpusDoc = { id: `doc-${String(i).padStart(5, '0')}`, text };
    if (i % 7 === 3) doc.labels = ['person', 'city'];
    docs.push(doc);
  }
  return docs;
}

export function toJsonl(docs: readonly CorpusDoc[]): string {
  return docs.map((d) => JSON.stringify(d) + '\n').join('');
}
