/**
 * A small synthetic NER corpus for learning tests: sentences built from openers, clauses and
 * closers with person, city, organization and date slots, filled with random names built from
 * syllables
 * ("Kalo Dorvasel", "Mirenburg", "Tavosel Labs", "4 May 2021", "May 2021").
 *
 * The held-out split uses sentence frames (clauses) the training split never has, and names that
 * never occur in training: every generated name is assigned to one split by a hash of its spelling, so the two
 * splits share the spelling rules (syllables, city endings, company suffixes) but no name.
 */
import { Rng } from '../../src/training/data/rng';
import { TrainConfigInput } from '../../src/training/train-config';

/**
 * How a tiny random-weight model learns this corpus (the learning test proves the recipe, the
 * shipped demo model is trained with it): high rates, as upstream's 1e-5 / 3e-5 suit pretrained
 * encoders, not random ones.
 */
export const SYNTHETIC_TRAINING_RECIPE: TrainConfigInput = {
  trainBatchSize: 16,
  lrEncoder: 3e-3,
  lrOthers: 5e-3,
  schedulerType: 'linear',
  warmupRatio: 0.05,
  lossAlpha: 0.75,
};

export type SyntheticRecord = { tokenized_text: string[]; ner: [number, number, string][] };
export type SyntheticSplit = 'train' | 'heldout';
export const SYNTHETIC_LABELS = ['city', 'date', 'organization', 'person'] as const;

const SYLLABLES = ['ka', 'lo', 'mi', 'ren', 'dor', 'va', 'sel', 'tin', 'bra', 'mo', 'li', 'ga', 'nor', 'fe', 'ri', 'sta', 'ul', 'zen', 'pa', 'ro', 'ne', 'vi', 'tor', 'da'];
const CITY_ENDINGS = ['burg', 'ville', 'ton', 'ford', 'stad', 'polis', 'haven', 'grad'];
const ORG_SUFFIXES = ['Inc', 'Corp', 'Group', 'Labs', 'Systems', 'Bank', 'University', 'Foundation'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

type Slot = 'person' | 'city' | 'organization' | 'date';

/**
 * Sentences are an optional opener, a clause and a closer. The clauses (the sentence frames)
 * differ between the splits; openers, closers and the small words around entities ("from",
 * "with", "that ... will") are shared, as they are in real text.
 */
const OPENERS = ['', '', '', 'Yesterday ,', 'Last year ,', 'According to the press ,', 'On {date} ,', 'In {city} ,', 'As expected ,'];
const CLOSERS = ['.', '.', 'on {date} .', 'in {date} .', 'after {date} .', 'last week .', 'in {city} .', ', sources said .'];
const TRAIN_CLAUSES = [
  '{person} visited {city}',
  '{person} joined {organization}',
  '{person} moved to {city}',
  '{organization} opened an office in {city}',
  '{person} published a report',
  '{person} works for {organization}',
  '{organization} hired {person}',
  'we met {person} at {organization}',
  '{city} welcomed {person}',
  '{organization} will grow',
  '{organization} moved its headquarters to {city}',
  '{person} called {person}',
  '{organization} signed a deal with {organization}',
  '{person} was born in {city}',
  'shares of {organization} fell',
  'nobody had heard of {person}',
  '{person} bought a house in {city}',
  '{organization} sued {organization}',
  'the mayor of {city} met {person}',
  '{person} founded {organization}',
  '{organization} is based in {city}',
  '{person} married {person}',
  '{person} called {person} from {city}',
  '{organization} imports goods from {city}',
  '{person} said that {organization} will expand',
  'reports claim that {person} will resign',
  '{person} had lunch with {person}',
  'the conference took place in {city}',
  '{person} has worked at {organization} for years',
  'a train to {city} left without {person}',
];
const HELDOUT_CLAUSES = [
  '{person} flew from {city} to {city}',
  '{organization} announced that {person} will lead the team',
  'the meeting with {person} took place in {city}',
  '{person} left {organization}',
  '{person} has lived in {city} for years',
  '{organization} acquired {organization}',
];

/** Which split a name belongs to (FNV-1a hash of its spelling). */
function splitOf(name: string): SyntheticSplit {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h % 3 === 0 ? 'heldout' : 'train';
}

const capital = (s: string) => s[0].toUpperCase() + s.slice(1);

export class SyntheticNer {
  private readonly rng: Rng;
  constructor(
    readonly split: SyntheticSplit,
    seed: number,
  ) {
    this.rng = new Rng(seed);
  }

  private pick<T>(xs: readonly T[]): T {
    return xs[this.rng.int(0, xs.length - 1)];
  }

  /** A random word of `min..max` syllables (plus an ending), kept only if it belongs to this split. */
  private word(min: number, max: number, ending = ''): string {
    for (;;) {
      let w = '';
      const n = this.rng.int(min, max);
      for (let i = 0; i < n; i++) w += this.pick(SYLLABLES);
      w = capital(w + ending);
      if (splitOf(w) === this.split) return w;
    }
  }

  fill(slot: Slot): string[] {
    switch (slot) {
      case 'person':
        return [this.word(2, 2), this.word(2, 3)];
      case 'city':
        return [this.word(1, 2, this.pick(CITY_ENDINGS))];
      case 'organization':
        return [this.word(2, 3), this.pick(ORG_SUFFIXES)];
      case 'date': {
        const year = String(this.rng.int(1950, 2030));
        const month = this.pick(MONTHS);
        const form = this.rng.int(0, 2);
        if (form === 0) return [String(this.rng.int(1, 28)), month, year];
        if (form === 1) return [month, year];
        return [month, String(this.rng.int(1, 28)), year];
      }
    }
  }

  example(): SyntheticRecord {
    const clauses = this.split === 'train' ? TRAIN_CLAUSES : HELDOUT_CLAUSES;
    const template = [this.pick(OPENERS), this.pick(clauses), this.pick(CLOSERS)].filter((p) => p !== '').join(' ');
    const words: string[] = [];
    const ner: [number, number, string][] = [];
    for (const part of template.split(' ')) {
      const m = /^\{(\w+)\}$/.exec(part);
      if (!m) {
        words.push(words.length === 0 ? capital(part) : part);
        continue;
      }
      const value = this.fill(m[1] as Slot);
      ner.push([words.length, words.length + value.length - 1, m[1]]);
      words.push(...value);
    }
    return { tokenized_text: words, ner };
  }
}

/** `n` examples of a split, deterministic for a seed. */
export function syntheticNer(n: number, split: SyntheticSplit, seed: number): SyntheticRecord[] {
  const gen = new SyntheticNer(split, seed);
  return Array.from({ length: n }, () => gen.example());
}
