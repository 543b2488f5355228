/**
 * A bidirectional single-layer LSTM with PyTorch's parameters and semantics
 * (gate order i, f, g, o; h0 = c0 = 0; both biases), run over padded batches exactly as
 * `pack_padded_sequence` would: each sequence is read over its own length only and the
 * outputs past that length are zero.
 *
 * The backward direction walks t = L-1 .. 0 and resets its state to zero while t is past a
 * sequence's end, so the state entering the last real word is zero, as packing guarantees,
 * without gathering reversed copies of the input. Under a gradient tape the recurrence has a
 * hand-written backward pass (recurrenceWithGrad).
 *
 * For speed, both directions advance together: step k runs the forward direction at t = k and
 * the backward one at t = L-1-k as one stacked [2, B, .] state, so each step runs one set of
 * elementwise kernels instead of two. Gate columns are reordered to (i, f, o, g) so that one
 * sigmoid covers three gates. The numbers are those of running the directions one after the
 * other.
 */
import * as tf from '@tensorflow/tfjs';
import { Module } from './module';
import { matMulLast } from './matmul';

class LstmDirection {
  constructor(
    readonly wIhT: tf.Variable, // [in, 4H]
    readonly wHhT: tf.Variable, // [H, 4H]
    readonly bIh: tf.Variable,
    readonly bHh: tf.Variable,
  ) {}
}

export class BiLSTM extends Module {
  private readonly forward: LstmDirection;
  private readonly backward: LstmDirection;

  constructor(readonly inputSize: number, readonly hiddenSize: number) {
    super();
    const make = (suffix: string) => {
      const transposed = (rows: number, cols: number) => ({
        storedShape: [rows, cols],
        toVariable: (w: tf.Tensor) => w.transpose(),
        toStored: (w: tf.Tensor) => w.transpose(),
      });
      const g = 4 * hiddenSize;
      return new LstmDirection(
        this.addParam(`weight_ih_l0${suffix}`, [inputSize, g], transposed(g, inputSize)),
        this.addParam(`weight_hh_l0${suffix}`, [hiddenSize, g], transposed(g, hiddenSize)),
        this.addParam(`bias_ih_l0${suffix}`, [g]),
        this.addParam(`bias_hh_l0${suffix}`, [g]),
      );
    };
    this.forward = make('');
    this.backward = make('_reverse');
  }

  /** PyTorch's gate blocks (i, f, g, o) along the last axis, reordered to (i, f, o, g). */
  private ifog(w: tf.Tensor): tf.Tensor {
    const [i, f, g, o] = tf.split(w, 4, w.rank - 1);
    return tf.concat([i, f, o, g], w.rank - 1);
  }

  /**
   * x: [B, L, in]; lengths: real length of each row (<= L).
   * Returns [B, L, 2H] = concat(forward, backward), zero past each row's length.
   */
  apply(x: tf.Tensor3D, lengths: readonly number[]): tf.Tensor3D {
    return tf.tidy(() => {
      const [batch, steps] = x.shape;
      const H = this.hiddenSize;
      const dirs = [this.forward, this.backward];
      // Input contributions of both directions and every step in one product: [B, L, 2*4H].
      const wIh = tf.concat(dirs.map((d) => this.ifog(d.wIhT)), 1) as tf.Tensor2D;
      const bias = tf.concat(dirs.map((d) => this.ifog(d.bIh.add(d.bHh))), 0);
      const xProj = matMulLast(x, wIh).add(bias);
      // -> [L, 2, B, 4H], the backward half reversed in time so that step k reads t = L-1-k.
      const byTime = xProj.reshape([batch, steps, 2, 4 * H]).transpose([1, 2, 0, 3]);
      const [fwdIn, bwdIn] = tf.split(byTime, 2, 1);
      // Time reversal as a gather of whole steps (wasm's Reverse kernel moves one element at a time).
      const reversed = tf.tensor1d(Int32Array.from({ length: steps }, (_, t) => steps - 1 - t), 'int32');
      const inputs = tf.concat([fwdIn, tf.gather(bwdIn, reversed)], 1);
      // Recurrent weights, one [H, 4H] matrix per direction. They stay two 2-D products per step
      // (rather than one batched product) because the wasm backend keeps XNNPACK's packed copy of
      // a 2-D product's weights for as long as the weight tensor lives, here all L steps.
      const [wHhF, wHhB] = dirs.map((d) => this.ifog(d.wHhT) as tf.Tensor2D);
      // valid[k] is [2, B, 1]: 1 where the direction's time step at step k is inside the row.
      const mask = new Float32Array(steps * 2 * batch);
      for (let k = 0; k < steps; k++) {
        lengths.forEach((n, b) => {
          mask[k * 2 * batch + b] = k < n ? 1 : 0;
          mask[k * 2 * batch + batch + b] = steps - 1 - k < n ? 1 : 0;
        });
      }
      const valid = tf.tensor4d(mask, [steps, 2, batch, 1]);
      const hs = tf.engine().isTapeOn() ? recurrenceWithGrad(inputs, wHhF, wHhB, valid) : recurrence(inputs, wHhF, wHhB, valid, false).hs;
      // [L, 2, B, H]; put the backward half back in time order, then -> [B, L, 2H].
      const [fwdOut, bwdOut] = tf.split(hs, 2, 1);
      const out = tf.concat([fwdOut, tf.gather(bwdOut, reversed)], 1); // [L, 2, B, H]
      return out.transpose([2, 0, 1, 3]).reshape([batch, steps, 2 * H]) as tf.Tensor3D;
    });
  }
}

export interface RecurrenceTrace {
  /** [L, 2, B, H]: the (masked) hidden state after each step. */
  hs: tf.Tensor;
  /** For the backward pass (when asked for): per step sigmoid(i, f, o), tanh(g), tanh(c_raw), and c before the step. */
  sig?: tf.Tensor; // [L, 2, B, 3H]
  g?: tf.Tensor; // [L, 2, B, H]
  tc?: tf.Tensor; // [L, 2, B, H]
  cPrev?: tf.Tensor; // [L, 2, B, H]
}

/**
 * Both directions' recurrence over precomputed gate inputs. inputs: [L, 2, B, 4H] in (i, f, o, g)
 * order, step k holding the forward direction's t = k and the backward one's t = L-1-k;
 * valid: [L, 2, B, 1]. Per step:
 *   gates = inputs[k] + h W;  c_raw = f*c + i*g;  h_raw = o*tanh(c_raw);  (c, h) = (c_raw, h_raw) * valid[k]
 */
export function recurrence(inputs: tf.Tensor, wF: tf.Tensor2D, wB: tf.Tensor2D, valid: tf.Tensor, keep: boolean): RecurrenceTrace {
  const [steps, , batch, g4] = inputs.shape;
  const H = g4 / 4;
  const xs = tf.unstack(inputs);
  const masks = tf.unstack(valid);
  let h: tf.Tensor = tf.zeros([2, batch, H]);
  let c: tf.Tensor = tf.zeros([2, batch, H]);
  const hs: tf.Tensor[] = [];
  const sigs: tf.Tensor[] = [];
  const gs: tf.Tensor[] = [];
  const tcs: tf.Tensor[] = [];
  const cPrevs: tf.Tensor[] = [];
  for (let k = 0; k < steps; k++) {
    const [hF, hB] = tf.unstack(h) as tf.Tensor2D[];
    const gates = xs[k].add(tf.stack([tf.matMul(hF, wF), tf.matMul(hB, wB)])); // [2, B, 4H]
    const [ifo, gRaw] = tf.split(gates, [3 * H, H], 2);
    const sig = tf.sigmoid(ifo);
    const [i, f, o] = tf.split(sig, 3, 2);
    const g = tf.tanh(gRaw);
    const cRaw = f.mul(c).add(i.mul(g));
    const tc = tf.tanh(cRaw);
    if (keep) {
      sigs.push(sig);
      gs.push(g);
      tcs.push(tc);
      cPrevs.push(c);
    }
    // Zero the state (and the output) wherever the step is past the row's end.
    c = cRaw.mul(masks[k]);
    h = o.mul(tc).mul(masks[k]);
    hs.push(h);
  }
  const trace: RecurrenceTrace = { hs: tf.stack(hs) };
  if (keep) {
    trace.sig = tf.stack(sigs);
    trace.g = tf.stack(gs);
    trace.tc = tf.stack(tcs);
    trace.cPrev = tf.stack(cPrevs);
  }
  return trace;
}

/**
 * The recurrence with a hand-written backward pass through time. Left to tfjs's autodiff, every
 * step would contribute its own [H, 4H] weight gradient per direction, and tfjs keeps every
 * intermediate gradient alive until the whole backward pass ends: 2 x L x 2.25 MB at H = 384
 * whatever the batch (0.9 GB for 200 words), on top of ~40 small kernels per step. Here the
 * backward loop only carries dh and dc; the weight gradients are one [H, L*B] x [L*B, 4H]
 * product per direction at the end.
 */
export function recurrenceWithGrad(inputs: tf.Tensor, wF: tf.Tensor2D, wB: tf.Tensor2D, valid: tf.Tensor): tf.Tensor {
  const run = tf.customGrad(((x: tf.Tensor, f: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
    const trace = recurrence(x, f as tf.Tensor2D, b as tf.Tensor2D, valid, true);
    // Saved tensors outlive this forward pass (the masks too: they are not an input of the op).
    save([trace.hs, trace.sig!, trace.g!, trace.tc!, trace.cPrev!, f, b, valid]);
    return {
      value: trace.hs,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => tf.tidy(() => backThroughTime(dy as tf.Tensor, saved)),
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return run(inputs, wF, wB) as tf.Tensor;
}

/** Gradients [d inputs, d wF, d wB] of the recurrence, given d hs [L, 2, B, H]. */
function backThroughTime(dHs: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] {
  const [hs, sigAll, gAll, tcAll, cPrevAll, wF, wB, valid] = saved;
  const [steps, , batch, H] = hs.shape;
  // Products with W^T, as flag-free products against the transposed weights (made once).
  const wFT = tf.transpose(wF) as tf.Tensor2D;
  const wBT = tf.transpose(wB) as tf.Tensor2D;
  const dys = tf.unstack(dHs);
  const masks = tf.unstack(valid);
  const sigs = tf.unstack(sigAll);
  const gs = tf.unstack(gAll);
  const tcs = tf.unstack(tcAll);
  const cPrevs = tf.unstack(cPrevAll);
  const dGates: tf.Tensor[] = new Array(steps);
  let dhNext: tf.Tensor = tf.zeros([2, batch, H]);
  let dcNext: tf.Tensor = tf.zeros([2, batch, H]);
  for (let k = steps - 1; k >= 0; k--) {
    const m = masks[k];
    const [i, f, o] = tf.split(sigs[k], 3, 2);
    const g = gs[k];
    const tc = tcs[k];
    // h = o * tanh(c_raw) * m and c = c_raw * m, both feeding step k+1 (and h the output).
    const dhRaw = dys[k].add(dhNext).mul(m);
    const dcRaw = dcNext.mul(m).add(dhRaw.mul(o).mul(tf.sub(1, tc.square())));
    // Through the gate nonlinearities: sigmoid' = s(1-s), tanh' = 1-t^2.
    const dSig = tf.concat([dcRaw.mul(g), dcRaw.mul(cPrevs[k]), dhRaw.mul(tc)], 2);
    const dIfo = dSig.mul(sigs[k]).mul(tf.sub(1, sigs[k]));
    const dG = dcRaw.mul(i).mul(tf.sub(1, g.square()));
    const dGate = tf.concat([dIfo, dG], 2); // [2, B, 4H]
    dGates[k] = dGate;
    const [dF, dB] = tf.unstack(dGate) as tf.Tensor2D[];
    dhNext = tf.stack([tf.matMul(dF, wFT), tf.matMul(dB, wBT)]);
    dcNext = dcRaw.mul(f);
  }
  const dInputs = tf.stack(dGates); // [L, 2, B, 4H]
  // The state each step started from: zeros, then the previous step's h.
  const hPrev = tf.concat([tf.zeros([1, 2, batch, H]), hs.slice([0, 0, 0, 0], [steps - 1, 2, batch, H])], 0);
  const perDirection = (d: number) => {
    const hp = hPrev.slice([0, d, 0, 0], [steps, 1, batch, H]).reshape([steps * batch, H]) as tf.Tensor2D;
    const dg = dInputs.slice([0, d, 0, 0], [steps, 1, batch, 4 * H]).reshape([steps * batch, 4 * H]) as tf.Tensor2D;
    return tf.matMul(hp, dg, true, false); // [H, 4H]
  };
  return [dInputs, perDirection(0), perDirection(1)];
}
