/**
 * Backend selection with an injected module loader (native packages present / absent), the env
 * overrides, and the wasm thread option.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend, wasmThreadsWanted } from '../src/backend';

/** A loader that fails for the native TensorFlow packages, as when they are not installed. */
const withoutNative = (name: string): unknown => {
  if (name.startsWith('@tensorflow/tfjs-node')) throw new Error(`Cannot find module '${name}'`);
  return require(name);
};

const savedEnv = { ...process.env };
afterEach(() => {
  for (const k of ['GLINER_TF_BACKEND', 'GLINER_TF_WASM_THREADS']) {
    if (savedEnv[k] === undefined) delete process.env[k];
    else process.env[k] = savedEnv[k];
  }
});

describe('backend selection', () => {
  test("'auto' without the native packages picks wasm, and reports its threads", async () => {
    const tried: string[] = [];
    const info = await initBackend('auto', {
      force: true,
      load: (name) => {
        tried.push(name);
        return withoutNative(name);
      },
    });
    expect(tried).toEqual(['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node', '@tensorflow/tfjs-backend-wasm']);
    expect(info.name).toBe('wasm');
    expect(info.provider).toBe('@tensorflow/tfjs-backend-wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(Number.isInteger(info.threads)).toBe(true);
    expect(info.threads).toBeGreaterThanOrEqual(1);
  });

  test("'auto' with nothing loadable falls back to cpu", async () => {
    const info = await initBackend('auto', {
      force: true,
      load: (name) => {
        throw new Error(`Cannot find module '${name}'`);
      },
    });
    expect(info).toEqual({ name: 'cpu', provider: '@tensorflow/tfjs (cpu)', threads: 1 });
    expect(tf.getBackend()).toBe('cpu');
  });

  test("'tensorflow' without the native packages is an error naming the package to install", async () => {
    await expect(initBackend('tensorflow', { force: true, load: withoutNative })).rejects.toThrow(/npm install @tensorflow\/tfjs-node/);
  });

  test('GLINER_TF_BACKEND overrides auto, and bad values are rejected', async () => {
    process.env.GLINER_TF_BACKEND = 'cpu';
    expect((await initBackend('auto', { force: true, load: withoutNative })).name).toBe('cpu');
    process.env.GLINER_TF_BACKEND = 'gpu';
    await expect(initBackend('auto', { force: true })).rejects.toThrow(/GLINER_TF_BACKEND='gpu'/);
  });

  test('unknown preferences are rejected', async () => {
    await expect(initBackend('metal' as never)).rejects.toThrow(/unknown backend 'metal'/);
  });

  test('an active backend is kept unless forced', async () => {
    const wasm = await initBackend('wasm', { force: true, load: withoutNative });
    expect(wasm.name).toBe('wasm');
    expect(await initBackend('auto')).toBe(wasm);
  });

  test('concurrent calls (two models loading at once) initialise the backend once', async () => {
    await initBackend('cpu', { force: true });
    let wasmLoads = 0;
    const load = (name: string) => {
      if (name === '@tensorflow/tfjs-backend-wasm') wasmLoads++;
      return withoutNative(name);
    };
    const [a, b] = await Promise.all([initBackend('wasm', { load }), initBackend('wasm', { load })]);
    expect(wasmLoads).toBe(1);
    expect(b).toBe(a);
    expect(tf.getBackend()).toBe('wasm');
  });
});

describe('wasm threads option', () => {
  test('defaults to GLINER_TF_WASM_THREADS, else the core count, capped at 8', () => {
    expect(wasmThreadsWanted(3)).toBe(3);
    expect(wasmThreadsWanted(64)).toBe(8);
    process.env.GLINER_TF_WASM_THREADS = '1';
    expect(wasmThreadsWanted()).toBe(1);
    expect(wasmThreadsWanted(2)).toBe(2);
    delete process.env.GLINER_TF_WASM_THREADS;
    expect(wasmThreadsWanted()).toBeGreaterThanOrEqual(1);
  });

  test('rejects values that are not positive integers', () => {
    expect(() => wasmThreadsWanted(0)).toThrow(/positive integer/);
    expect(() => wasmThreadsWanted(1.5)).toThrow(/positive integer/);
    process.env.GLINER_TF_WASM_THREADS = 'many';
    expect(() => wasmThreadsWanted()).toThrow(/GLINER_TF_WASM_THREADS='many'/);
  });
});
