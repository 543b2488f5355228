/** A real redis-server on 127.0.0.1 (free port, own temp dir) for the queue tests. */
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { ChildProcess, spawn, spawnSync } from 'child_process';

export const REDIS_BIN = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((p) => fs.existsSync(p)) ?? (spawnSync('sh', ['-c', 'command -v redis-server']).stdout?.toString().trim() || null);

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => res(port));
    });
    s.on('error', rej);
  });
}

export class RedisServer {
  private proc: ChildProcess | null = null;
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gliner-redis-'));
  constructor(readonly port: number, private readonly persist: boolean) {}
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }
  static async start(persist = false): Promise<RedisServer> {
    const r = new RedisServer(await freePort(), persist);
    await r.up();
    return r;
  }
  async up(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', ''];
    args.push('--appendonly', this.persist ? 'yes' : 'no');
    this.proc = spawn(REDIS_BIN!, args, { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      const ok = await new Promise<boolean>((res) => {
        const c = net.connect(this.port, '127.0.0.1', () => (c.end(), res(true)));
        c.on('error', () => res(false));
      });
      if (ok) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`redis-server did not start on port ${this.port}`);
  }
  /** SIGTERM: a clean shutdown (the append-only file is flushed). */
  async down(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((res) => {
      p.once('exit', () => res());
      p.kill('SIGTERM');
    });
    this.proc = null;
  }
  async stop(): Promise<void> {
    await this.down();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
