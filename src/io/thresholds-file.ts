/**
 * thresholds.json, as `gliner-tf calibrate` writes it and `predict --thresholds` reads it:
 *
 *   {"threshold": 0.42, "thresholds": {"person": 0.38, "date": 0.61}, ...report keys}
 *
 * `threshold` is the fallback for labels not listed. Other keys (the calibration report) are
 * ignored when reading.
 */
import * as fs from 'fs';
import { ThresholdError, validateThresholdOptions } from '../thresholds';

export interface ThresholdsFile {
  threshold?: number;
  thresholds: Record<string, number>;
}

export function readThresholdsFile(file: string): ThresholdsFile {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ThresholdError(`${file}: ${code ? `cannot read (${code})` : `invalid JSON (${(e as Error).message})`}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ThresholdError(`${file}: must be a JSON object with "thresholds"`);
  const r = raw as Record<string, unknown>;
  if (r.thresholds === undefined) throw new ThresholdError(`${file}: no "thresholds" key (an object of "label": threshold)`);
  const t = r.threshold;
  if (t !== undefined && !(typeof t === 'number' && t >= 0 && t <= 1)) throw new ThresholdError(`${file}: "threshold" must be a number in [0, 1], got ${JSON.stringify(t)}`);
  validateThresholdOptions({ thresholds: r.thresholds as Record<string, number> }, file);
  return { threshold: t as number | undefined, thresholds: r.thresholds as Record<string, number> };
}
