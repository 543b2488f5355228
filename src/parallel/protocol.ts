/**
 * Messages between a PredictPool and its workers (child processes or worker threads alike:
 * both carry structured-clone / JSON-safe objects). One task at a time per worker.
 */
import type { Entity } from '../decoding';
import type { BackendPreference } from '../backend';
import type { LabelSpec, PredictOptions } from '../gliner';

export interface InitMessage {
  type: 'init';
  /** A local model folder (the pool resolves hub ids first, so workers never download). */
  modelDir: string;
  backend: BackendPreference;
}

export interface PredictMessage {
  type: 'predict';
  id: number;
  texts: string[];
  /** One label list (or label -> description object) per text. */
  labels: LabelSpec[];
  options: PredictOptions;
}

export type ToWorker = InitMessage | PredictMessage | { type: 'exit' };

export type FromWorker =
  | { type: 'ready'; backend: string; threads: number | null }
  | { type: 'init-failed'; message: string }
  | { type: 'result'; id: number; entities: Entity[][] }
  | { type: 'failed'; id: number; message: string };
