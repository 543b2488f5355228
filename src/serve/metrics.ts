/** Prometheus text-format metrics (exposition format 0.0.4), kept in process; no client library needed. */

type Labels = Record<string, string>;

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const labelText = (l: Labels) => {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
};

class Counter {
  private values = new Map<string, { labels: Labels; value: number }>();
  constructor(readonly name: string, readonly help: string) {}
  inc(labels: Labels = {}, by = 1): void {
    const key = labelText(labels);
    const v = this.values.get(key) ?? { labels, value: 0 };
    v.value += by;
    this.values.set(key, v);
  }
  get(labels: Labels = {}): number {
    return this.values.get(labelText(labels))?.value ?? 0;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const { labels, value } of this.values.values()) lines.push(`${this.name}${labelText(labels)} ${value}`);
    return lines.join('\n');
  }
}

class Histogram {
  private counts: number[];
  private sum = 0;
  private count = 0;
  constructor(readonly name: string, readonly help: string, readonly buckets: number[]) {
    this.counts = buckets.map(() => 0);
  }
  observe(v: number): void {
    this.buckets.forEach((b, i) => {
      if (v <= b) this.counts[i]++;
    });
    this.sum += v;
    this.count++;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    this.buckets.forEach((b, i) => lines.push(`${this.name}_bucket{le="${b}"} ${this.counts[i]}`));
    lines.push(`${this.name}_bucket{le="+Inf"} ${this.count}`, `${this.name}_sum ${this.sum}`, `${this.name}_count ${this.count}`);
    return lines.join('\n');
  }
}

const gauge = (name: string, help: string, value: number) => `# HELP ${name} ${help}\n# TYPE ${name} gauge\n${name} ${value}`;

export class ServerMetrics {
  readonly requests = new Counter('gliner_http_requests_total', 'HTTP requests by route and status code.');
  readonly errors = new Counter('gliner_errors_total', 'Refused or failed requests by kind.');
  readonly texts = new Counter('gliner_texts_total', 'Texts run through the model.');
  readonly batchSize = new Histogram('gliner_batch_size', 'Texts per model batch.', [1, 2, 4, 8, 16, 32, 64, 128]);
  readonly batchSeconds = new Histogram('gliner_batch_duration_seconds', 'Time of one model batch.', [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);
  readonly latency = new Histogram('gliner_request_duration_seconds', 'Time from request to response for POST /v1/entities.', [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]);
  /** Texts finished in recent seconds, for a texts/s gauge that needs no PromQL. */
  private recent: { at: number; n: number }[] = [];

  constructor(private readonly queueDepth: () => number, private readonly ready: () => boolean) {}

  batch(size: number, seconds: number): void {
    this.batchSize.observe(size);
    this.batchSeconds.observe(seconds);
    this.texts.inc({}, size);
    const now = Date.now();
    this.recent.push({ at: now, n: size });
    while (this.recent.length && this.recent[0].at < now - 60_000) this.recent.shift();
  }

  textsPerSecond(): number {
    const now = Date.now();
    return this.recent.filter((r) => r.at >= now - 60_000).reduce((s, r) => s + r.n, 0) / 60;
  }

  render(): string {
    const mem = process.memoryUsage();
    return [
      this.requests.render(),
      this.errors.render(),
      this.texts.render(),
      gauge('gliner_texts_per_second', 'Texts per second over the last 60 s.', this.textsPerSecond()),
      gauge('gliner_queue_depth', 'Texts waiting for a model batch.', this.queueDepth()),
      gauge('gliner_ready', '1 when the model is loaded and warmed up.', this.ready() ? 1 : 0),
      this.batchSize.render(),
      this.batchSeconds.render(),
      this.latency.render(),
      gauge('process_resident_memory_bytes', 'Resident memory.', mem.rss),
      gauge('nodejs_heap_used_bytes', 'V8 heap in use.', mem.heapUsed),
    ].join('\n') + '\n';
  }
}
