/**
 * The hub client against hostile servers on 127.0.0.1: credentials on a scheme downgrade,
 * servers that drop every body and ignore Range, a status line trickled byte by byte, a claimed
 * 1 PiB file, a disk that fills up, and an endpoint where nothing listens.
 */
import * as fs from 'fs';
import * as http from 'http';
import * as https from 'https';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { hubDownload, HubDownloadOptions, HubNetworkError, InsufficientDiskSpaceError } from '../src/hub';
import { shouldDropCredentials } from '../src/hub/http';
import { fakeCommit, gitBlobSha1 } from './helpers/fake-hub';

const REPO = 'evil-org/model';
const TOKEN = 'hf_secret_token_never_in_clear';
const COMMIT = fakeCommit('hostile');
const TLS_DIR = path.resolve(__dirname, '..', 'fixtures', 'tls');

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, scheme: 'http' | 'https') => void;

interface Seen {
  scheme: 'http' | 'https';
  method: string;
  url: string;
  authorization?: string;
  range?: string;
}

/** One port that speaks both TLS and plain HTTP (sniffing the first byte), like https:// and http:// on one host. */
async function dualServer(handler: Handler): Promise<{ port: number; seen: Seen[]; close: () => Promise<void> }> {
  const seen: Seen[] = [];
  const wrap = (scheme: 'http' | 'https') => (req: http.IncomingMessage, res: http.ServerResponse) => {
    seen.push({ scheme, method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization, range: req.headers.range });
    handler(req, res, scheme);
  };
  const tls = https.createServer(
    { key: fs.readFileSync(path.join(TLS_DIR, 'loopback-key.pem')), cert: fs.readFileSync(path.join(TLS_DIR, 'loopback-cert.pem')) },
    wrap('https'),
  );
  const plain = http.createServer(wrap('http'));
  const sockets = new Set<net.Socket>();
  const front = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.once('data', (buf) => {
      sock.pause();
      sock.unshift(buf);
      (buf[0] === 0x16 ? tls : plain).emit('connection', sock);
      process.nextTick(() => sock.resume());
    });
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  const port = (front.address() as net.AddressInfo).port;
  const close = async (): Promise<void> => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => front.close(() => resolve()));
  };
  return { port, seen, close };
}

/** A plain HTTP server on 127.0.0.1 with a raw handler. */
async function plainServer(handler: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<{ endpoint: string; gets: () => number; close: () => Promise<void> }> {
  let gets = 0;
  const server = http.createServer((req, res) => {
    if (req.method === 'GET') gets++;
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    gets: () => gets,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Send the headers, then `bytes`, then close the connection, with pauses between, so the client
 * has consumed the bytes before it sees the connection end (Node drops data still buffered when
 * a response is aborted).
 */
function sendThenHangUp(res: http.ServerResponse, bytes: Buffer): void {
  res.flushHeaders();
  setTimeout(() => res.write(bytes, () => setTimeout(() => res.socket?.end(), 30)), 10);
}

function fileHeaders(content: Buffer): http.OutgoingHttpHeaders {
  return { 'x-repo-commit': COMMIT, etag: `"${gitBlobSha1(content)}"`, 'content-length': content.length };
}

let cacheDir: string;
let savedCa: unknown;
const savedEnv = { ...process.env };

beforeAll(() => {
  // Trust the loopback certificate for this process's default https agent only.
  savedCa = https.globalAgent.options.ca;
  https.globalAgent.options.ca = fs.readFileSync(path.join(TLS_DIR, 'loopback-cert.pem'));
});
afterAll(() => {
  https.globalAgent.options.ca = savedCa as https.AgentOptions['ca'];
});
beforeEach(() => {
  cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gliner-hostile-hub-'));
});
afterEach(() => {
  process.env = { ...savedEnv };
  fs.rmSync(cacheDir, { recursive: true, force: true });
});

function opts(endpoint: string, extra: HubDownloadOptions = {}): HubDownloadOptions {
  return { endpoint, cacheDir, quiet: true, retryDelayMs: 1, token: TOKEN, ...extra };
}

describe('credentials and redirects', () => {
  test('shouldDropCredentials follows the requests/browser rule', () => {
    expect(shouldDropCredentials('https://hub.example/a', 'https://hub.example/b')).toBe(false);
    expect(shouldDropCredentials('https://hub.example/a', 'http://hub.example/b')).toBe(true); // downgrade
    expect(shouldDropCredentials('https://hub.example:8443/a', 'http://hub.example:8443/b')).toBe(true);
    expect(shouldDropCredentials('http://hub.example/a', 'https://hub.example/b')).toBe(false); // upgrade, default ports
    expect(shouldDropCredentials('http://hub.example:8080/a', 'https://hub.example:8443/b')).toBe(true);
    expect(shouldDropCredentials('https://hub.example/a', 'https://cdn.example/b')).toBe(true);
    expect(shouldDropCredentials('https://hub.example/a', 'https://hub.example:444/b')).toBe(true);
  });

  const content = Buffer.from('{"secret": "weights"}\n'.repeat(50));

  test.each([
    ['HEAD redirect (LFS-style, absolute Location)', 'head'],
    ['GET redirect', 'get'],
    ['GET redirect of a resumed download', 'resume'],
  ])('an https endpoint redirecting to http on the same host and port never gets the token in clear: %s', async (_what, mode) => {
    let httpsGets = 0;
    const srv = await dualServer((req, res, scheme) => {
      const plainUrl = `http://127.0.0.1:${srv.port}/plain/file.json`;
      if (scheme === 'http') {
        // The downgraded hop: serve the file (a real attacker would just read the header).
        res.writeHead(200, { 'content-length': content.length });
        res.end(req.method === 'HEAD' ? undefined : content);
        return;
      }
      if (req.method === 'HEAD') {
        if (mode === 'head') {
          res.writeHead(302, { location: plainUrl, 'x-repo-commit': COMMIT, 'x-linked-etag': `"${'a'.repeat(64)}"`, 'x-linked-size': content.length });
        } else {
          res.writeHead(200, fileHeaders(content));
        }
        res.end();
        return;
      }
      httpsGets++;
      if (mode === 'resume' && httpsGets === 1) {
        // First GET: half the body, then the connection drops, so the next GET resumes with Range.
        res.writeHead(200, { 'content-length': content.length });
        sendThenHangUp(res, content.subarray(0, 100));
        return;
      }
      res.writeHead(302, { location: plainUrl });
      res.end();
    });
    try {
      const endpoint = `https://127.0.0.1:${srv.port}`;
      // The LFS case carries a fake sha256 etag: checksum verification would (rightly) fail it.
      const p = await hubDownload(REPO, 'file.json', opts(endpoint, { verifyChecksum: false }));
      expect(fs.readFileSync(p).equals(content)).toBe(true);
      const overHttp = srv.seen.filter((s) => s.scheme === 'http');
      const overHttps = srv.seen.filter((s) => s.scheme === 'https');
      expect(overHttp.length).toBeGreaterThan(0); // the downgraded hop did happen...
      expect(overHttp.every((s) => s.authorization === undefined)).toBe(true); // ...without the token
      expect(overHttps.some((s) => s.authorization === `Bearer ${TOKEN}`)).toBe(true); // the hub itself still got it
      if (mode === 'resume') expect(srv.seen.some((s) => s.range !== undefined)).toBe(true);
    } finally {
      await srv.close();
    }
  });
});

describe('bounded retries and timeouts', () => {
  test('a server that always drops mid-body and ignores Range is retried a bounded number of times', async () => {
    const content = Buffer.alloc(100_000, 7);
    const srv = await plainServer((req, res) => {
      if (req.method === 'HEAD') {
        res.writeHead(200, fileHeaders(content));
        res.end();
        return;
      }
      res.writeHead(200, { 'content-length': content.length }); // Range ignored: always the whole file
      sendThenHangUp(res, content.subarray(0, 1000));
    });
    try {
      const err = await hubDownload(REPO, 'big.bin', opts(srv.endpoint, { maxRetries: 2 })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(HubNetworkError);
      expect((err as Error).message).toContain("Download of 'big.bin'");
      expect((err as Error).message).toContain('failed after 3 attempt(s)');
      expect(srv.gets()).toBe(3); // first try + 2 retries: the repeated first 1000 bytes are no progress
    } finally {
      await srv.close();
    }
  });

  test('a server that honours Range but gives a few new bytes per connection hits the total attempt cap', async () => {
    const content = Buffer.alloc(10_000, 3);
    const srv = await plainServer((req, res) => {
      if (req.method === 'HEAD') {
        res.writeHead(200, fileHeaders(content));
        res.end();
        return;
      }
      const m = /bytes=(\d+)-/.exec(req.headers.range ?? '');
      const start = m ? Number(m[1]) : 0;
      res.writeHead(m ? 206 : 200, {
        'content-length': content.length - start,
        ...(m ? { 'content-range': `bytes ${start}-${content.length - 1}/${content.length}` } : {}),
      });
      sendThenHangUp(res, content.subarray(start, start + 10));
    });
    try {
      // maxRetries 1: at most (1 + 1) * 10 attempts in all, however much each one brings.
      const err = await hubDownload(REPO, 'slow.bin', opts(srv.endpoint, { maxRetries: 1 })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(HubNetworkError);
      expect(srv.gets()).toBe(20);
      expect((err as Error).message).toContain('The 200 bytes received are kept');
    } finally {
      await srv.close();
    }
  });

  test('a HEAD answer trickling one byte at a time hits the headers deadline', async () => {
    jest.setTimeout(20_000);
    process.env.HF_HUB_ETAG_TIMEOUT = '0.5';
    const timers = new Set<NodeJS.Timeout>();
    const sockets = new Set<net.Socket>();
    const server = net.createServer((sock) => {
      sockets.add(sock);
      const answer = Buffer.from(`HTTP/1.1 200 OK\r\nX-Repo-Commit: ${COMMIT}\r\nETag: "abc"\r\nContent-Length: 3\r\n\r\n`);
      let i = 0;
      // Every byte comes well inside the socket's idle timeout; the whole answer would take ~9 s.
      const t = setInterval(() => {
        if (i < answer.length && !sock.destroyed) sock.write(answer.subarray(i, ++i));
      }, 100);
      timers.add(t);
      sock.on('close', () => clearInterval(t));
      sock.on('error', () => clearInterval(t));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    try {
      const err = await hubDownload(REPO, 'config.json', opts(endpoint, { maxRetries: 1 })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(HubNetworkError);
      expect((err as Error).message).toContain('no complete response headers from 127.0.0.1');
      expect((err as Error).message).toContain('after 2 attempt(s)');
    } finally {
      for (const t of timers) clearInterval(t);
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('unreachable download host', () => {
  test('a redirect to a CDN where nothing listens fails at once with a HubNetworkError naming the file', async () => {
    const dead = net.createServer();
    await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
    const deadPort = (dead.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => dead.close(() => resolve()));
    const srv = await plainServer((_req, res) => {
      res.writeHead(302, { location: `http://127.0.0.1:${deadPort}/cdn/x`, 'x-repo-commit': COMMIT, 'x-linked-etag': `"${'c'.repeat(64)}"`, 'x-linked-size': 10 });
      res.end();
    });
    try {
      const err = await hubDownload(REPO, 'w.safetensors', opts(srv.endpoint, { maxRetries: 5, retryDelayMs: 60_000 })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(HubNetworkError);
      expect((err as Error).message).toContain("Download of 'w.safetensors'");
      expect((err as Error).message).toContain('ECONNREFUSED');
      expect((err as Error).message).toContain('HF_ENDPOINT');
    } finally {
      await srv.close();
    }
  });
});

describe('disk space', () => {
  test('a server claiming a 1 PiB file is refused before any byte is written', async () => {
    const huge = 2 ** 50;
    const srv = await plainServer((req, res) => {
      res.writeHead(200, { 'x-repo-commit': COMMIT, etag: `"${'b'.repeat(40)}"`, 'content-length': huge });
      if (req.method === 'HEAD') res.end();
      else res.destroy();
    });
    try {
      const err = await hubDownload(REPO, 'model.safetensors', opts(srv.endpoint)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InsufficientDiskSpaceError);
      expect((err as InsufficientDiskSpaceError).code).toBe('DiskSpace');
      expect((err as Error).message).toContain("'model.safetensors'");
      expect((err as Error).message).toContain('1.0 PiB');
      expect(srv.gets()).toBe(0);
      const blobs = path.join(cacheDir, 'models--evil-org--model', 'blobs');
      expect(fs.existsSync(blobs) ? fs.readdirSync(blobs) : []).toEqual([]);
    } finally {
      await srv.close();
    }
  });

  const devFull = fs.existsSync('/dev/full') ? test : test.skip;
  devFull('a disk that fills up mid-download gives an error naming the file, and the partial file is removed', async () => {
    const content = Buffer.alloc(50_000, 9);
    const srv = await plainServer((req, res) => {
      res.writeHead(200, fileHeaders(content));
      res.end(req.method === 'HEAD' ? undefined : content);
    });
    try {
      // The partial file is a link to /dev/full, where every write fails with ENOSPC.
      const blobs = path.join(cacheDir, 'models--evil-org--model', 'blobs');
      fs.mkdirSync(blobs, { recursive: true });
      const incomplete = path.join(blobs, `${gitBlobSha1(content)}.incomplete`);
      fs.symlinkSync('/dev/full', incomplete);
      const err = await hubDownload(REPO, 'weights.bin', opts(srv.endpoint)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InsufficientDiskSpaceError);
      expect((err as Error).message).toContain("'weights.bin'");
      expect((err as Error).message).toContain(incomplete);
      expect((err as Error).message).toContain('ENOSPC');
      expect(fs.existsSync(incomplete)).toBe(false);
      expect(srv.gets()).toBe(1); // a full disk is not retried
    } finally {
      await srv.close();
    }
  });
});
