/**
 * Property tests run with a fixed seed so that CI is deterministic. To explore other inputs
 * locally: GLINER_TF_FUZZ_SEED=<n> npm test (fast-check prints the seed of any failure).
 */
import fc from 'fast-check';

fc.configureGlobal({ seed: Number(process.env.GLINER_TF_FUZZ_SEED ?? 20261121) });
