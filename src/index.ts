/** gliner-tf: GLiNER named entity recognition in TypeScript on TensorFlow.js. */
export { GLiNER } from './gliner';
export type { LoadOptions, PredictOptions, GlinerTokenizer } from './gliner';
export type { Entity } from './decoding';
export { initBackend, activeBackend } from './backend';
export type { BackendInfo, BackendPreference } from './backend';
export { splitWords } from './processing/word-splitter';
export type { Word } from './processing/word-splitter';
export type { GlinerConfig } from './config';
export { GlinerModel } from './model';
export { formatResults, OUTPUT_FORMATS } from './output/formats';
export type { OutputFormat, ResultRecord } from './output/formats';
export { FAMILIES, getFamily, familyNames, buildFamilyConfig } from './families';
