/**
 * Free intermediate gradients during the backward pass instead of at its end.
 *
 * tfjs's backprop (tape.ts, backpropagateGradients) walks the tape from y back to the xs and
 * keeps a map tensor -> accumulated gradient, but never frees an entry once it has been used:
 * every intermediate gradient, and every per-use contribution it summed, lives until the whole
 * backward pass returns. A training step therefore holds about one gradient tensor for every
 * activation on top of the saved activations themselves; for GLiNER that is most of a 4 GB wasm
 * heap at 2 x 200 words.
 *
 * Likewise each node's saved forward tensors (its own clones, made for its gradient) are freed
 * only when the pass ends, so the peak holds every saved activation of the network at once.
 *
 * Each tensor's gradient is read exactly once, when the node that produced the tensor is
 * processed (the tape is in topological order). So once all of a node's input-gradient thunks
 * have run, the gradients of its outputs (the accumulated value and every contribution summed
 * into it) and the node's saved tensors are dead. We wrap each tape node's gradient function to
 * dispose them at that point (tfjs disposes them again at the end: disposal is idempotent).
 *
 * A gradient pass that throws frees the saved tensors of its tape too (tfjs would leak them).
 *
 * Safety rules: nothing is released while higher-order gradients are being recorded
 * (gradientDepth > 0); nothing kept (tf.keep) is released; a tensor returned as one of this
 * node's input gradients is never released here (a gradient function may hand dy through); a
 * tensor contributed to several inputs is released only when all of them have been consumed;
 * the first node of each backward pass keeps its dy (it may be the caller's own).
 */
import * as tf from '@tensorflow/tfjs';

interface TapeNode {
  outputs: tf.Tensor[];
  inputs: Record<string, tf.Tensor>;
  /** The node's own clones of what its gradient needs (engine.saveTensorsForBackwardMode). */
  saved?: tf.Tensor[];
  gradient?: (dys: (tf.Tensor | null)[]) => Record<string, () => tf.Tensor>;
}

interface EngineInternals {
  addTapeNode(...args: unknown[]): void;
  gradients(...args: unknown[]): unknown;
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
}

const installed = new WeakSet<object>();
/** Gradients contributed to each tensor's accumulated gradient, not yet released. */
const contributions = new WeakMap<tf.Tensor, tf.Tensor[]>();
/** How many contribution lists hold each tensor (a gradient function may return one tensor for two inputs). */
const holders = new WeakMap<tf.Tensor, number>();
let currentTape: TapeNode[] | null = null;
let deferred: (() => void) | null = null;
let enabled = true;

/** Switch the early release off (tfjs's own behaviour) or back on; for comparisons in tests and benchmarks. */
export function setEagerGradientRelease(on: boolean): void {
  enabled = on;
}

/** Install on the current tfjs engine (idempotent). */
export function releaseGradientsEagerly(): void {
  const engine = tf.engine() as unknown as EngineInternals;
  if (installed.has(engine)) return;
  installed.add(engine);
  const addTapeNode = engine.addTapeNode.bind(engine);
  engine.addTapeNode = (...args: unknown[]) => {
    addTapeNode(...args);
    const tape = engine.state.activeTape;
    const node = tape?.[tape.length - 1];
    if (tape && node?.gradient) node.gradient = wrap(engine, tape, node, node.gradient);
  };
  // tfjs frees the tape's saved tensors only when a gradient pass completes. A pass that throws
  // (out of memory in the forward or backward, a NaN check) would leave every tensor saved so far
  // alive for good; free them as the completed pass would.
  const gradients = engine.gradients.bind(engine);
  engine.gradients = (...args: unknown[]) => {
    try {
      return gradients(...args);
    } catch (e) {
      const tape = engine.state.activeTape;
      if (engine.state.gradientDepth === 0 && tape) {
        for (const node of tape) for (const t of node.saved ?? []) t.dispose();
        engine.state.activeTape = null;
      }
      throw e;
    }
  };
}

function wrap(engine: EngineInternals, tape: TapeNode[], node: TapeNode, gradient: NonNullable<TapeNode['gradient']>): NonNullable<TapeNode['gradient']> {
  return (dys) => {
    // Backprop calls a node's gradient, then at once the thunks of the inputs still on the
    // x -> y path (the tape it walks holds copies of our nodes with pruned inputs, so we cannot
    // count them), then the next node's gradient. The previous node is released here, when all
    // of its thunks are known to have run.
    const firstOfPass = tape !== currentTape;
    if (firstOfPass) deferred = null;
    currentTape = tape;
    deferred?.();
    deferred = null;
    const thunks = gradient(dys);
    const returned: tf.Tensor[] = [];
    const wrapped: Record<string, () => tf.Tensor> = {};
    for (const name of Object.keys(thunks)) {
      wrapped[name] = () => {
        const dx = thunks[name]();
        returned.push(dx);
        const x = node.inputs[name];
        if (x) {
          const list = contributions.get(x) ?? [];
          list.push(dx);
          contributions.set(x, list);
          holders.set(dx, (holders.get(dx) ?? 0) + 1);
        }
        return dx;
      };
    }
    // The first node's dy may be the caller's; higher-order gradients need everything.
    if (enabled && !firstOfPass && engine.state.gradientDepth === 0) deferred = () => release(node, dys, returned);
    return wrapped;
  };
}

/** Dispose the (now consumed) gradients of the node's outputs. */
function release(node: TapeNode, dys: (tf.Tensor | null)[], returned: tf.Tensor[]): void {
  const dead = new Set<tf.Tensor>();
  node.outputs.forEach((o, i) => {
    const dy = dys[i];
    if (dy) dead.add(dy);
    for (const c of contributions.get(o) ?? []) {
      const n = (holders.get(c) ?? 1) - 1;
      holders.set(c, n);
      if (n === 0) dead.add(c);
    }
    contributions.delete(o);
  });
  for (const t of dead) {
    if (returned.includes(t) || (t as unknown as { kept?: boolean }).kept) continue;
    // Still held for another input that has not been consumed yet.
    if ((holders.get(t) ?? 0) > 0) continue;
    t.dispose();
  }
  for (const t of node.saved ?? []) t.dispose();
}
