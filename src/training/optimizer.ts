/**
 * AdamW with torch.optim.AdamW's exact update (amsgrad off, maximize off), the parameter
 * groups upstream GLiNER's Trainer builds, gradient clipping as torch.nn.utils.clip_grad_norm_,
 * and gradient accumulation.
 *
 * ## Update (per parameter, t = that parameter's step count after incrementing)
 *   p <- p * (1 - lr * wd)                                 (decoupled decay, skipped when wd = 0)
 *   m <- lerp(m, g, 1 - beta1)                             (= beta1 m + (1 - beta1) g)
 *   v <- beta2 v + (1 - beta2) g^2
 *   p <- p - (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 * Bias corrections are computed in double precision on the host, as torch's default
 * (non-capturable) path does in Python floats. A parameter without a gradient in a step is left
 * alone (no decay, no step count), as torch skips parameters whose .grad is None.
 *
 * ## Parameter groups (upstream gliner/training/trainer.py `create_optimizer`)
 *   encoder = every parameter whose name contains "token_rep_layer" (the DeBERTa encoder AND the
 *             projection to the GLiNER width), with lr = learning_rate (`lr_encoder`) and
 *             weight_decay (`weight_decay_encoder`);
 *   others  = the rest (LSTM, span and prompt heads) with others_lr / others_weight_decay.
 *   No decay for any parameter whose name contains "bias" (this includes the LSTM's
 *   bias_ih/bias_hh) or that belongs to a LayerNorm module; everything else (embeddings, linear
 *   and LSTM weights) decays. Frozen parameters are in no group.
 *
 * Defaults are HF TrainingArguments' (adamw_torch): betas (0.9, 0.999), eps 1e-8.
 */
import * as tf from '@tensorflow/tfjs';
import { Module } from '../layers/module';
import { LayerNorm } from '../layers/layer-norm';
import { HostTensor, TensorMap } from '../io/host-tensor';

/** Upstream's test for encoder parameters: `"token_rep_layer" in name`. */
export function isEncoderParam(name: string): boolean {
  return name.includes('token_rep_layer');
}

/** Names of parameters exempt from weight decay: biases and LayerNorm weights (HF `get_decay_parameter_names`). */
export function noDecayParamNames(model: Module): Set<string> {
  const out = new Set<string>();
  for (const [name] of model.namedParameters()) {
    if (name.includes('bias')) {
      out.add(name);
      continue;
    }
    const dot = name.lastIndexOf('.');
    if (dot < 0) continue;
    let owner: Module | null = null;
    try {
      owner = model.child(name.slice(0, dot));
    } catch {
      owner = null; // a parameter registered under a dotted name on its module: not a LayerNorm
    }
    if (owner instanceof LayerNorm) out.add(name);
  }
  return out;
}

export interface ParamGroup {
  /** For logs and saved state: 'encoder', 'encoder_no_decay', 'others', 'others_no_decay'. */
  name: string;
  /** Base learning rate (the schedule multiplies it). */
  lr: number;
  weightDecay: number;
  params: string[];
}

export interface GroupOptions {
  lrEncoder: number;
  lrOthers: number;
  weightDecayEncoder: number;
  weightDecayOther: number;
  /** Parameters not trained at all (freeze_token_rep). */
  frozen?: ReadonlySet<string>;
}

/** The four groups of upstream's `create_optimizer` (empty ones dropped), in its order. */
export function buildParamGroups(model: Module, o: GroupOptions): ParamGroup[] {
  for (const [k, v] of Object.entries(o)) {
    if (k !== 'frozen' && (typeof v !== 'number' || !Number.isFinite(v) || v < 0)) throw new RangeError(`${k} must be a non-negative number, got ${String(v)}`);
  }
  const noDecay = noDecayParamNames(model);
  const groups: ParamGroup[] = [
    { name: 'others', lr: o.lrOthers, weightDecay: o.weightDecayOther, params: [] },
    { name: 'others_no_decay', lr: o.lrOthers, weightDecay: 0, params: [] },
    { name: 'encoder', lr: o.lrEncoder, weightDecay: o.weightDecayEncoder, params: [] },
    { name: 'encoder_no_decay', lr: o.lrEncoder, weightDecay: 0, params: [] },
  ];
  for (const [name] of model.namedParameters()) {
    if (o.frozen?.has(name)) continue;
    const g = (isEncoderParam(name) ? 2 : 0) + (noDecay.has(name) ? 1 : 0);
    groups[g].params.push(name);
  }
  return groups.filter((g) => g.params.length > 0);
}

export interface AdamWOptions {
  beta1?: number;
  beta2?: number;
  eps?: number;
}

interface Slot {
  variable: tf.Variable;
  m: tf.Variable;
  v: tf.Variable;
  step: number;
  group: ParamGroup;
}

/** Host-side part of the optimizer state (the moments are tensors). */
export interface AdamWStateMeta {
  version: 1;
  beta1: number;
  beta2: number;
  eps: number;
  /** Per-parameter step counts. */
  steps: Record<string, number>;
  groups: { name: string; lr: number; weightDecay: number; params: string[] }[];
}

export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly groups: readonly ParamGroup[];
  private readonly slots = new Map<string, Slot>();
  private disposed = false;

  /** `variables`: name -> variable for (at least) every parameter named in `groups`. */
  constructor(variables: ReadonlyMap<string, tf.Variable>, groups: readonly ParamGroup[], options: AdamWOptions = {}) {
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.eps = options.eps ?? 1e-8;
    for (const [k, v] of [['beta1', this.beta1], ['beta2', this.beta2]] as const) {
      if (!(v >= 0 && v < 1)) throw new RangeError(`AdamW ${k} must be in [0, 1), got ${v}`);
    }
    if (!(this.eps >= 0) || !Number.isFinite(this.eps)) throw new RangeError(`AdamW eps must be a non-negative number, got ${this.eps}`);
    this.groups = groups.map((g) => ({ ...g, params: [...g.params] }));
    // check everything before allocating the moments
    const seen = new Set<string>();
    for (const group of this.groups) {
      if (!(group.lr >= 0) || !(group.weightDecay >= 0)) throw new RangeError(`parameter group '${group.name}': lr and weight decay must be >= 0`);
      for (const name of group.params) {
        if (!variables.has(name)) throw new Error(`AdamW: no variable for parameter '${name}'`);
        if (seen.has(name)) throw new Error(`AdamW: parameter '${name}' is in two groups`);
        seen.add(name);
      }
    }
    for (const group of this.groups) {
      for (const name of group.params) {
        const variable = variables.get(name)!;
        this.slots.set(name, {
          variable,
          m: tf.variable(tf.zerosLike(variable), false),
          v: tf.variable(tf.zerosLike(variable), false),
          step: 0,
          group,
        });
      }
    }
  }

  /** Names of the parameters this optimizer updates. */
  paramNames(): string[] {
    return [...this.slots.keys()];
  }

  /** The learning rate of each group at a schedule multiplier. */
  learningRates(lrFactor = 1): Record<string, number> {
    return Object.fromEntries(this.groups.map((g) => [g.name, g.lr * lrFactor]));
  }

  /**
   * One update. `grads` are in the variables' layout (as lossAndGrads returns them), keyed by
   * parameter name; `lrFactor` is the schedule's multiplier for this update. Gradients of
   * parameters outside the groups are ignored. The grads are not disposed.
   */
  step(grads: ReadonlyMap<string, tf.Tensor>, lrFactor = 1): void {
    this.checkAlive();
    if (!Number.isFinite(lrFactor) || lrFactor < 0) throw new RangeError(`lrFactor must be a non-negative number, got ${lrFactor}`);
    const { beta1, beta2, eps } = this;
    for (const [name, slot] of this.slots) {
      const g = grads.get(name);
      if (!g) continue;
      if (!sameShape(g.shape, slot.variable.shape)) {
        throw new Error(`AdamW: gradient of '${name}' has shape [${g.shape}], parameter has [${slot.variable.shape}]`);
      }
      slot.step += 1;
      const t = slot.step;
      const lr = slot.group.lr * lrFactor;
      const wd = slot.group.weightDecay;
      const stepSize = lr / (1 - Math.pow(beta1, t));
      const bc2Sqrt = Math.sqrt(1 - Math.pow(beta2, t));
      tf.tidy(() => {
        const p = slot.variable;
        const decayed = wd !== 0 ? p.mul(tf.scalar(1 - lr * wd)) : p;
        // torch's lerp with weight < 0.5: m + w (g - m).
        const m = slot.m.add(g.sub(slot.m).mul(tf.scalar(1 - beta1)));
        const v = slot.v.mul(tf.scalar(beta2)).add(g.mul(g).mul(tf.scalar(1 - beta2)));
        const denom = v.sqrt().div(tf.scalar(bc2Sqrt)).add(tf.scalar(eps));
        p.assign(decayed.sub(m.div(denom).mul(tf.scalar(stepSize))));
        slot.m.assign(m);
        slot.v.assign(v);
      });
    }
  }

  /** Moments as host tensors (`<name>.exp_avg`, `<name>.exp_avg_sq`) plus the host-side state. */
  state(): { tensors: TensorMap; meta: AdamWStateMeta } {
    this.checkAlive();
    const tensors: TensorMap = new Map();
    const steps: Record<string, number> = {};
    for (const [name, slot] of this.slots) {
      tensors.set(`${name}.exp_avg`, toHost(slot.m));
      tensors.set(`${name}.exp_avg_sq`, toHost(slot.v));
      steps[name] = slot.step;
    }
    return {
      tensors,
      meta: {
        version: 1,
        beta1: this.beta1,
        beta2: this.beta2,
        eps: this.eps,
        steps,
        groups: this.groups.map((g) => ({ name: g.name, lr: g.lr, weightDecay: g.weightDecay, params: [...g.params] })),
      },
    };
  }

  /** Restore what `state()` returned. The parameter sets must be the same. */
  loadState(tensors: TensorMap, meta: AdamWStateMeta, source = 'optimizer state'): void {
    this.checkAlive();
    if (meta.version !== 1) throw new Error(`${source}: unsupported optimizer state version ${String(meta.version)}`);
    const saved = new Set(Object.keys(meta.steps));
    const missing = [...this.slots.keys()].filter((n) => !saved.has(n));
    const extra = [...saved].filter((n) => !this.slots.has(n));
    if (missing.length || extra.length) {
      const parts = [];
      if (missing.length) parts.push(`no state for ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}`);
      if (extra.length) parts.push(`state for unknown parameters ${extra.slice(0, 5).join(', ')}${extra.length > 5 ? ', ...' : ''}`);
      throw new Error(`${source}: the saved optimizer does not match the trained parameters (${parts.join('; ')}); was freeze_token_rep changed?`);
    }
    for (const [name, slot] of this.slots) {
      const step = meta.steps[name];
      if (!Number.isInteger(step) || step < 0) throw new Error(`${source}: invalid step count for '${name}'`);
      for (const [suffix, target] of [['exp_avg', slot.m], ['exp_avg_sq', slot.v]] as const) {
        const t = tensors.get(`${name}.${suffix}`);
        if (!t) throw new Error(`${source}: missing tensor '${name}.${suffix}'`);
        if (!sameShape(t.shape, target.shape) || !(t.data instanceof Float32Array)) {
          throw new Error(`${source}: tensor '${name}.${suffix}' has shape [${t.shape}] (${t.dtype}), expected float [${target.shape}]`);
        }
        tf.tidy(() => target.assign(tf.tensor(t.data as Float32Array, t.shape, 'float32')));
      }
      slot.step = step;
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const slot of this.slots.values()) {
      slot.m.dispose();
      slot.v.dispose();
    }
    this.slots.clear();
  }

  private checkAlive(): void {
    if (this.disposed) throw new Error('this optimizer has been disposed');
  }
}

/**
 * torch.nn.utils.clip_grad_norm_: total = ||(||g_1||, ..., ||g_n||)||_2 (float32); every gradient
 * is multiplied by min(1, maxNorm / (total + 1e-6)). The map's tensors are replaced by the
 * clipped ones (the old ones disposed), as torch clips .grad in place; returns the norm before
 * clipping. `maxNorm <= 0` only measures. One host read (the norm) per call.
 */
export function clipGradNorm(grads: Map<string, tf.Tensor>, maxNorm: number): number {
  const list = [...grads.values()];
  if (list.length === 0) return 0;
  const totalT = tf.tidy(() => tf.stack(list.map((g) => g.square().sum().sqrt())).square().sum().sqrt());
  const norm = totalT.dataSync()[0];
  // A coefficient clamped to 1 changes nothing (x * 1 = x), so only multiply when it is below 1.
  if (maxNorm > 0 && Number.isFinite(norm) && maxNorm / (norm + 1e-6) < 1 + 1e-6) {
    // computed as torch does: in float32 on the device, clamped at 1
    const coef = tf.tidy(() => tf.minimum(tf.scalar(maxNorm).div(totalT.add(1e-6)), 1));
    for (const [name, g] of grads) {
      grads.set(name, tf.mul(g, coef));
      g.dispose();
    }
    coef.dispose();
  }
  totalT.dispose();
  return norm;
}

/**
 * Sums gradients of several micro-batches, each scaled by `scale` (upstream divides each
 * micro-batch loss by gradient_accumulation_steps before backward).
 */
export class GradAccumulator {
  private sums = new Map<string, tf.Tensor>();
  private count = 0;

  /** Adds `scale * grads`; the inputs are not disposed. */
  add(grads: ReadonlyMap<string, tf.Tensor>, scale = 1): void {
    for (const [name, g] of grads) {
      const prev = this.sums.get(name);
      const next = tf.tidy(() => {
        const scaled = scale === 1 ? g.clone() : g.mul(tf.scalar(scale));
        return prev ? prev.add(scaled) : scaled;
      });
      prev?.dispose();
      this.sums.set(name, next);
    }
    this.count++;
  }

  /** Takes ownership of `grads` as the sum when the accumulator is empty (no copy for a single batch). */
  adopt(grads: Map<string, tf.Tensor>): void {
    if (this.count !== 0) throw new Error('GradAccumulator.adopt: the accumulator is not empty');
    this.sums = grads;
    this.count = 1;
  }

  /** Number of micro-batches added since the last take(). */
  get size(): number {
    return this.count;
  }

  /** The sums (the caller owns them); the accumulator is empty afterwards. */
  take(): Map<string, tf.Tensor> {
    const out = this.sums;
    this.sums = new Map();
    this.count = 0;
    return out;
  }

  dispose(): void {
    for (const t of this.sums.values()) t.dispose();
    this.sums.clear();
    this.count = 0;
  }
}

export function disposeGrads(grads: ReadonlyMap<string, tf.Tensor>): void {
  for (const g of grads.values()) g.dispose();
}

function toHost(v: tf.Tensor): HostTensor {
  return { dtype: 'F32', shape: [...v.shape], data: v.dataSync() as Float32Array };
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
