/** Training data: reading files in GLiNER / Pile-NER / NuNER formats and preparing batches. */
export * from './formats';
export * from './reader';
export * from './batching';
export * from './rng';
export { parseStringList, LiteralSyntaxError } from './python-literal';
