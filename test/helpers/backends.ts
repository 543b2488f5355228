/**
 * The backends this machine has, for tests that must pass on each (parity): wasm and cpu always
 * (both ship with the package), native TensorFlow when @tensorflow/tfjs-node(-gpu) is installed.
 * GLINER_TF_TEST_BACKENDS=wasm,cpu picks a subset.
 */
import { BackendPreference } from '../../src/backend';

function installed(pkg: string): boolean {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

export function machineBackends(): BackendPreference[] {
  const all: BackendPreference[] = ['wasm', 'cpu'];
  if (installed('@tensorflow/tfjs-node') || installed('@tensorflow/tfjs-node-gpu')) all.push('tensorflow');
  const only = process.env.GLINER_TF_TEST_BACKENDS;
  if (!only) return all;
  const wanted = only.split(',').map((s) => s.trim()) as BackendPreference[];
  for (const w of wanted) if (!all.includes(w)) throw new Error(`GLINER_TF_TEST_BACKENDS: '${w}' is not available here (have: ${all.join(', ')})`);
  return wanted;
}
