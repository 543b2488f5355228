/**
 * The body of one PredictPool worker: loads the model once, then answers predict messages one at
 * a time. The same file runs as a child process (IPC via process.send) or as a worker thread
 * (parentPort); the thread count of its wasm backend comes from GLINER_TF_WASM_THREADS, which
 * the pool sets per worker.
 */
import { parentPort } from 'worker_threads';
import { GLiNER } from '../gliner';
import type { FromWorker, ToWorker } from './protocol';

type Send = (m: FromWorker) => void;

function channel(): { send: Send; onMessage: (f: (m: ToWorker) => void) => void } {
  if (parentPort) {
    const port = parentPort;
    return { send: (m) => port.postMessage(m), onMessage: (f) => port.on('message', f) };
  }
  if (!process.send) throw new Error('predict-worker: started neither as a worker thread nor as a child process with IPC');
  return { send: (m) => process.send!(m), onMessage: (f) => process.on('message', (m) => f(m as ToWorker)) };
}

export function startPredictWorker(): void {
  const { send, onMessage } = channel();
  let model: GLiNER | null = null;
  // Messages are handled strictly in order (the pool sends one task at a time anyway).
  let chain: Promise<void> = Promise.resolve();
  onMessage((m) => {
    chain = chain.then(async () => {
      if (m.type === 'init') {
        try {
          model = await GLiNER.fromPretrained(m.modelDir, { backend: m.backend, onWarning: () => {}, quiet: true, localFilesOnly: true });
          send({ type: 'ready', backend: model.backend?.name ?? 'unknown', threads: model.backend?.threads ?? null });
        } catch (e) {
          send({ type: 'init-failed', message: (e as Error).message });
        }
      } else if (m.type === 'predict') {
        try {
          if (!model) throw new Error('predict before the model was loaded');
          const entities = await model.batchPredictEntities(m.texts, m.labels, m.options);
          send({ type: 'result', id: m.id, entities });
        } catch (e) {
          send({ type: 'failed', id: m.id, message: (e as Error).message });
        }
      } else if (m.type === 'exit') {
        model?.dispose();
        model = null;
        if (parentPort) parentPort.close();
        else process.disconnect?.();
      }
    });
  });
}

// As a child process this file is the entry point; a worker thread calls startPredictWorker().
if (require.main === module) startPredictWorker();
