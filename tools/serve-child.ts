/**
 * `gliner-tf serve` in a child process for the load and soak scripts, so the load generator does
 * not share the server's event loop. Resolves once the server prints its address.
 */
import { spawn } from 'child_process';
import * as path from 'path';

export interface ServeChild {
  url: string;
  /** SIGTERM, then wait for the exit (the server drains in-flight requests first). */
  stop(): Promise<void>;
}

export async function startServeChild(args: string[]): Promise<ServeChild> {
  const cli = path.join(__dirname, 'cli.ts');
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', cli, 'serve', '--port', '0', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (d) => {
      err += d;
      const m = /listening on (\S+) /.exec(err);
      if (m) resolve(m[1]);
    });
    child.on('exit', () => reject(new Error(err)));
  });
  return { url, stop: () => new Promise((r) => (child.once('exit', () => r()), child.kill('SIGTERM'))) };
}
