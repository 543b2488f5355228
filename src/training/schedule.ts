/**
 * Learning-rate schedules with linear warm-up, as transformers' `get_*_schedule_with_warmup`
 * define them (upstream GLiNER passes `scheduler_type` to the HF Trainer as `lr_scheduler_type`).
 * Each returns a multiplier of the base learning rate for an optimizer update:
 *
 *   warm-up (step < W):     step / max(1, W)
 *   linear:                 max(0, (T - step) / max(1, T - W))
 *   cosine (half a cycle):  max(0, 0.5 (1 + cos(pi * progress))),  progress = (step - W) / max(1, T - W)
 *   constant_with_warmup:   1
 *   constant:               1 at every step, warm-up ignored (HF's `get_constant_schedule`)
 *
 * `step` is the 0-based index of the update: like torch's LambdaLR, the first update uses
 * factor(0), which is 0 during a warm-up. W comes from `resolveWarmupSteps` (HF semantics:
 * warmup_steps when > 0, else ceil(T * warmup_ratio)).
 */

export const SCHEDULER_TYPES = ['linear', 'cosine', 'constant', 'constant_with_warmup'] as const;
export type SchedulerType = (typeof SCHEDULER_TYPES)[number];

export interface ScheduleOptions {
  type: SchedulerType;
  /** T: total number of optimizer updates. */
  totalSteps: number;
  /** W: warm-up updates. */
  warmupSteps: number;
}

/** HF `TrainingArguments.get_warmup_steps`: an explicit count wins, else ceil(total * ratio). */
export function resolveWarmupSteps(totalSteps: number, warmupRatio: number, warmupSteps = 0): number {
  if (!Number.isFinite(warmupRatio) || warmupRatio < 0 || warmupRatio > 1) throw new RangeError(`warmup_ratio must be in [0, 1], got ${warmupRatio}`);
  if (!Number.isInteger(warmupSteps) || warmupSteps < 0) throw new RangeError(`warmup_steps must be a non-negative integer, got ${warmupSteps}`);
  return warmupSteps > 0 ? warmupSteps : Math.ceil(totalSteps * warmupRatio);
}

export function isSchedulerType(v: unknown): v is SchedulerType {
  return typeof v === 'string' && (SCHEDULER_TYPES as readonly string[]).includes(v);
}

export class LrSchedule {
  readonly type: SchedulerType;
  readonly totalSteps: number;
  readonly warmupSteps: number;

  constructor(options: ScheduleOptions) {
    if (!isSchedulerType(options.type)) throw new RangeError(`scheduler_type must be one of ${SCHEDULER_TYPES.join(', ')}, got '${String(options.type)}'`);
    if (!Number.isInteger(options.totalSteps) || options.totalSteps < 1) throw new RangeError(`total steps must be a positive integer, got ${options.totalSteps}`);
    if (!Number.isInteger(options.warmupSteps) || options.warmupSteps < 0) throw new RangeError(`warm-up steps must be a non-negative integer, got ${options.warmupSteps}`);
    this.type = options.type;
    this.totalSteps = options.totalSteps;
    this.warmupSteps = options.warmupSteps;
  }

  /** Multiplier of the base learning rate for update `step` (0-based). */
  factor(step: number): number {
    if (!Number.isInteger(step) || step < 0) throw new RangeError(`step must be a non-negative integer, got ${step}`);
    const W = this.warmupSteps;
    const T = this.totalSteps;
    if (this.type === 'constant') return 1;
    if (step < W) return step / Math.max(1, W);
    switch (this.type) {
      case 'constant_with_warmup':
        return 1;
      case 'linear':
        return Math.max(0, (T - step) / Math.max(1, T - W));
      case 'cosine': {
        const progress = (step - W) / Math.max(1, T - W);
        return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
      }
    }
  }
}
