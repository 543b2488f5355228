/**
 * A small single-line terminal progress bar (downloads, training epochs, ...):
 *
 *   model.safetensors  42% [########..........] 113.2 MB/271.4 MB 12.1 MB/s ETA 13s
 *
 * It draws only on a TTY, so logs and CI output stay clean, and redraws at most every
 * `minIntervalMs` so that per-chunk updates cost nothing.
 */

/** What the bar writes to; process.stderr by default. */
export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressBarOptions {
  /** Never draw (the bar still counts, so `value` stays meaningful). */
  quiet?: boolean;
  /** Defaults to process.stderr (stdout may be piped to a file with results). */
  stream?: ProgressStream;
  /** 'B' formats counts as bytes (kB, MB, ...) and speed as bytes/s; any other unit is shown as is. */
  unit?: string;
  /** Starting count, e.g. bytes already on disk when resuming; excluded from the speed. */
  initial?: number;
  /** Minimum time between redraws. Default 100 ms. */
  minIntervalMs?: number;
}

const BYTE_UNITS = ['B', 'kB', 'MB', 'GB', 'TB'];

/** Decimal units, as the hub and most download tools show sizes. */
export function formatBytes(n: number): string {
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1000 && i < BYTE_UNITS.length - 1) {
    v /= 1000;
    i++;
  }
  return i === 0 ? `${Math.round(v)} B` : `${v.toFixed(1)} ${BYTE_UNITS[i]}`;
}

/** 59s, 4m05s, 2h03m. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

function formatCount(n: number, unit: string): string {
  if (unit === 'B') return formatBytes(n);
  return Number.isInteger(n) ? String(n) : n.toFixed(2);
}

export class ProgressBar {
  /** Whether anything is drawn at all. */
  readonly enabled: boolean;
  private readonly stream: ProgressStream;
  private readonly unit: string;
  private readonly minIntervalMs: number;
  private readonly startMs = Date.now();
  private readonly initial: number;
  private total: number | undefined;
  private current: number;
  private suffix = '';
  private lastDrawMs = -Infinity;
  private finished = false;

  /** `total` may be unknown (undefined): the bar then shows the count and speed only. */
  constructor(
    private readonly label: string,
    total?: number,
    opts: ProgressBarOptions = {},
  ) {
    this.stream = opts.stream ?? process.stderr;
    this.enabled = !opts.quiet && this.stream.isTTY === true;
    this.unit = opts.unit ?? '';
    this.minIntervalMs = opts.minIntervalMs ?? 100;
    this.initial = opts.initial ?? 0;
    this.current = this.initial;
    this.total = total !== undefined && total >= 0 ? total : undefined;
  }

  get value(): number {
    return this.current;
  }

  /** Advance by `n` (default 1). */
  update(n = 1): void {
    this.current += n;
    this.maybeDraw();
  }

  /** Jump to an absolute count (e.g. a download restarted from zero). */
  set(value: number): void {
    this.current = value;
    this.maybeDraw();
  }

  setTotal(total: number | undefined): void {
    this.total = total;
    this.maybeDraw();
  }

  /** Free text after the numbers, e.g. "loss 0.412". */
  setSuffix(text: string): void {
    this.suffix = text;
    this.maybeDraw();
  }

  /** Draw the final state and end the line. Safe to call twice. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.enabled) this.stream.write(`\r${this.render()}\x1b[K\n`);
  }

  /** The text of the bar as it would be drawn now (without terminal control codes). */
  render(): string {
    const elapsedS = Math.max((Date.now() - this.startMs) / 1000, 1e-3);
    const rate = (this.current - this.initial) / elapsedS;
    const unit = this.unit === 'B' || this.unit === '' ? '' : ` ${this.unit}`;
    const rateText = this.unit === 'B' ? `${formatBytes(rate)}/s` : `${rate.toFixed(rate < 10 ? 2 : 1)}${unit || ' it'}/s`;
    const parts = [this.label];
    if (this.total !== undefined && this.total > 0) {
      const frac = Math.min(1, Math.max(0, this.current / this.total));
      parts.push(`${String(Math.floor(frac * 100)).padStart(3)}%`, `[${this.barText(frac)}]`);
      parts.push(`${formatCount(this.current, this.unit)}/${formatCount(this.total, this.unit)}${unit}`, rateText);
      const remaining = this.total - this.current;
      if (remaining > 0 && rate > 0) parts.push(`ETA ${formatDuration(remaining / rate)}`);
      else if (remaining <= 0) parts.push(formatDuration(elapsedS));
    } else {
      parts.push(`${formatCount(this.current, this.unit)}${unit}`, rateText);
    }
    if (this.suffix) parts.push(this.suffix);
    const line = parts.join(' ');
    // a terminal reporting 0 columns (some CI ptys) would otherwise get an empty line
    const width = (this.stream.columns && this.stream.columns > 0 ? this.stream.columns : 80) - 1; // the last column wraps on some terminals
    return line.length > width ? line.slice(0, Math.max(0, width)) : line;
  }

  private barText(frac: number): string {
    const width = 20;
    const filled = Math.round(frac * width);
    return '#'.repeat(filled) + '.'.repeat(width - filled);
  }

  private maybeDraw(): void {
    if (!this.enabled || this.finished) return;
    const now = Date.now();
    if (now - this.lastDrawMs < this.minIntervalMs) return;
    this.lastDrawMs = now;
    this.stream.write(`\r${this.render()}\x1b[K`);
  }
}
