/**
 * Exponential moving average of the model weights (Polyak averaging, as timm's ModelEma and
 * tf.train.ExponentialMovingAverage): after every optimizer update
 *
 *     ema <- d * ema + (1 - d) * w          (ema starts as the weights before the first update)
 *
 * so after t updates ema_t = d^t w_0 + (1 - d) * sum_{k=1..t} d^(t-k) w_k. With `warmup` the
 * decay of update t (1-based) is min(d, (1 + t) / (10 + t)), as TensorFlow's num_updates rule,
 * so a short run is not dominated by the initial weights.
 *
 * The average lives in float32 variables of the parameters' own layout; it is saved as a second
 * weights file (`model.ema.safetensors`, upstream names and layout) and reloaded bit for bit,
 * so a resumed run continues the same average.
 */
import * as tf from '@tensorflow/tfjs';
import { Module } from '../layers/module';
import { TensorMap } from '../io/host-tensor';

export const EMA_FILE = 'model.ema.safetensors';

export interface EmaState {
  decay: number;
  warmup: boolean;
  /** Updates averaged so far. */
  updates: number;
}

export class WeightAverage {
  private readonly average = new Map<string, tf.Variable>();
  private updatesDone = 0;
  private disposed = false;

  constructor(
    private readonly model: Module,
    readonly decay: number,
    readonly warmup = false,
  ) {
    if (!(typeof decay === 'number' && decay >= 0 && decay < 1)) throw new RangeError(`ema_decay must be in [0, 1), got ${String(decay)}`);
    for (const [name, p] of model.namedParameters()) this.average.set(name, tf.variable(p.variable, false));
  }

  get updates(): number {
    return this.updatesDone;
  }

  /** The decay used for update number `t` (1-based). */
  decayAt(t: number): number {
    return this.warmup ? Math.min(this.decay, (1 + t) / (10 + t)) : this.decay;
  }

  /** Fold the current weights into the average (call once after each optimizer update). */
  update(): void {
    this.checkAlive();
    const d = this.decayAt(this.updatesDone + 1);
    tf.tidy(() => {
      for (const [name, p] of this.model.namedParameters()) {
        const avg = this.average.get(name)!;
        avg.assign(avg.mul(d).add(p.variable.mul(1 - d)));
      }
    });
    this.updatesDone++;
  }

  /**
   * Run `fn` with the averaged weights in the model, then put the raw weights back exactly
   * (also when `fn` throws).
   */
  async withAveragedWeights<T>(fn: () => Promise<T> | T): Promise<T> {
    this.checkAlive();
    const saved = new Map<string, tf.Tensor>();
    const named = this.model.namedParameters();
    try {
      for (const [name, p] of named) {
        saved.set(name, tf.clone(p.variable));
        p.variable.assign(this.average.get(name)!);
      }
      return await fn();
    } finally {
      for (const [name, p] of named) {
        const raw = saved.get(name);
        if (raw) {
          p.variable.assign(raw);
          raw.dispose();
        }
      }
    }
  }

  /** The average in checkpoint layout (upstream names and shapes). */
  async exportWeights(): Promise<TensorMap> {
    return this.withAveragedWeights(() => this.model.exportWeights());
  }

  /** Replace the average with stored weights (from `exportWeights`) and its update count. */
  async load(weights: TensorMap, updates: number, source = EMA_FILE): Promise<void> {
    this.checkAlive();
    if (!Number.isInteger(updates) || updates < 0) throw new Error(`${source}: bad EMA update count ${String(updates)}`);
    await this.withAveragedWeights(() => {
      this.model.loadWeights(weights, source);
      for (const [name, p] of this.model.namedParameters()) this.average.get(name)!.assign(p.variable);
    });
    this.updatesDone = updates;
  }

  state(): EmaState {
    return { decay: this.decay, warmup: this.warmup, updates: this.updatesDone };
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const v of this.average.values()) v.dispose();
    this.average.clear();
  }

  private checkAlive(): void {
    if (this.disposed) throw new Error('this weight average has been disposed');
  }
}
