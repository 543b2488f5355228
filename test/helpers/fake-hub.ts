/**
 * A local stand-in for the Hugging Face Hub, good enough to exercise the download client:
 * two real HTTP servers on 127.0.0.1 (random ports), the "hub" and a "CDN" on another port, so
 * that a redirect from one to the other changes host exactly as huggingface.co -> cdn does.
 *
 * Hub routes: HEAD/GET /ORG/NAME/resolve/REVISION/FILE
 *  - regular files: 200 with X-Repo-Commit, quoted git-sha1 ETag, Content-Length (Range on GET);
 *  - LFS files: 302 to {cdn}/cdn/<sha256>?... with X-Linked-Etag (quoted sha256), X-Linked-Size;
 *  - 404 + X-Error-Code RepoNotFound / RevisionNotFound / EntryNotFound (the last with X-Repo-Commit);
 *  - gated repos: 401 (no token) or 403 (wrong token) with X-Error-Code GatedRepo;
 *  - renamed repos: 307 to a relative Location under the new name.
 * Every request is recorded (server, method, path, Range, Authorization) for assertions, and
 * switches inject faults: drop a connection mid-file, corrupt bytes, lie about a size, fail
 * with a status a number of times.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import { AddressInfo } from 'net';
import * as path from 'path';

export interface FakeFile {
  content: Buffer;
  /** Stored with Git LFS: served through a redirect to the CDN. */
  lfs: boolean;
}

export interface RecordedRequest {
  server: 'hub' | 'cdn';
  method: string;
  path: string;
  range?: string;
  authorization?: string;
}

interface Commit {
  sha: string;
  files: Map<string, FakeFile>;
}

interface Repo {
  access: 'public' | 'gated';
  commits: Map<string, Commit>;
  branches: Map<string, string>;
}

/** git's blob id: sha1("blob <size>\0" + content), what the hub sends as ETag for regular files. */
export function gitBlobSha1(content: Buffer): string {
  return createHash('sha1').update(`blob ${content.length}\0`).update(content).digest('hex');
}

export function sha256(content: Buffer): string {
  return createHash('sha256').update(content).digest('hex');
}

/** A deterministic fake commit id. */
export function fakeCommit(seed: string): string {
  return createHash('sha1').update(`commit ${seed}`).digest('hex');
}

export const TINY_GLINER_DIR = path.resolve(__dirname, '..', '..', 'fixtures', 'reference', 'tiny_buckets8');

/** The tiny reference model as a repo: weights and the sentencepiece model in LFS, JSON as git files. */
export function tinyGlinerFiles(): Record<string, FakeFile> {
  const files: Record<string, FakeFile> = {};
  for (const name of ['config.json', 'gliner_config.json', 'tokenizer_config.json', 'special_tokens_map.json', 'added_tokens.json']) {
    files[name] = { content: fs.readFileSync(path.join(TINY_GLINER_DIR, name)), lfs: false };
  }
  for (const name of ['model.safetensors', 'spm.model']) {
    files[name] = { content: fs.readFileSync(path.join(TINY_GLINER_DIR, name)), lfs: true };
  }
  return files;
}

/** Parse "bytes=START-" / "bytes=START-END"; undefined when absent or not understood. */
function parseRange(value: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  const m = value === undefined ? null : /^bytes=(\d+)-(\d*)$/.exec(value.trim());
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

export class FakeHub {
  readonly requests: RecordedRequest[] = [];
  /** Bearer token that opens gated repos. */
  readonly validToken = 'hf_fake_valid_token';

  private readonly repos = new Map<string, Repo>();
  private readonly renamed = new Map<string, string>();
  /** LFS blobs by sha256, as the CDN serves them. */
  private readonly cdnBlobs = new Map<string, { name: string; content: Buffer }>();
  private readonly dropPlans = new Map<string, { afterBytes: number; times: number }>();
  private readonly corruptPlans = new Set<string>();
  private readonly sizeLies = new Map<string, number>();
  private failures: { remaining: number; status: number } = { remaining: 0, status: 503 };

  private constructor(
    private readonly hubServer: http.Server,
    private readonly cdnServer: http.Server,
  ) {}

  static async start(): Promise<FakeHub> {
    const hub = new FakeHub(http.createServer(), http.createServer());
    hub.hubServer.on('request', (req, res) => hub.handleHub(req, res));
    hub.cdnServer.on('request', (req, res) => hub.handleCdn(req, res));
    await Promise.all([listen(hub.hubServer), listen(hub.cdnServer)]);
    return hub;
  }

  /** http://127.0.0.1:PORT of the hub, to use as endpoint / HF_ENDPOINT. */
  get endpoint(): string {
    return origin(this.hubServer);
  }

  get cdnOrigin(): string {
    return origin(this.cdnServer);
  }

  /** Add (or extend) a repo with a commit, and point the given branches/tags at it. */
  addCommit(repoId: string, sha: string, files: Record<string, FakeFile>, opts: { branches?: string[]; access?: 'public' | 'gated' } = {}): void {
    let repo = this.repos.get(repoId);
    if (!repo) {
      repo = { access: opts.access ?? 'public', commits: new Map(), branches: new Map() };
      this.repos.set(repoId, repo);
    }
    if (opts.access) repo.access = opts.access;
    repo.commits.set(sha, { sha, files: new Map(Object.entries(files)) });
    for (const b of opts.branches ?? ['main']) repo.branches.set(b, sha);
    for (const [name, f] of Object.entries(files)) if (f.lfs) this.cdnBlobs.set(sha256(f.content), { name, content: f.content });
  }

  /** Requests for `oldId` get a relative 307 to `newId`, like a renamed repo on the hub. */
  rename(oldId: string, newId: string): void {
    this.renamed.set(oldId, newId);
  }

  /**
   * The next `times` GETs of `filename` (hub or CDN) send `afterBytes` bytes of their body, then
   * drop the connection.
   */
  dropConnection(filename: string, afterBytes: number, times = 1): void {
    this.dropPlans.set(filename, { afterBytes, times });
  }

  /** The next GET of `filename` serves the right number of bytes with one of them flipped. */
  corruptOnce(filename: string): void {
    this.corruptPlans.add(filename);
  }

  /** Metadata for `filename` announces a size off by `delta` bytes (until cleared with 0). */
  misreportSize(filename: string, delta: number): void {
    if (delta === 0) this.sizeLies.delete(filename);
    else this.sizeLies.set(filename, delta);
  }

  /** The next `count` hub requests fail with `status` (e.g. 503). */
  failNext(count: number, status = 503): void {
    this.failures = { remaining: count, status };
  }

  /** Cancel every pending fault switch. */
  resetFaults(): void {
    this.dropPlans.clear();
    this.corruptPlans.clear();
    this.sizeLies.clear();
    this.failures = { remaining: 0, status: 503 };
  }

  clearRequests(): void {
    this.requests.length = 0;
  }

  /** Recorded requests matching a filter, e.g. count({ method: 'GET' }). */
  count(filter: Partial<Pick<RecordedRequest, 'server' | 'method'>> & { pathIncludes?: string } = {}): number {
    return this.requests.filter(
      (r) =>
        (filter.server === undefined || r.server === filter.server) &&
        (filter.method === undefined || r.method === filter.method) &&
        (filter.pathIncludes === undefined || r.path.includes(filter.pathIncludes)),
    ).length;
  }

  async close(): Promise<void> {
    await Promise.all([shutdown(this.hubServer), shutdown(this.cdnServer)]);
  }

  // -------------------------------------------------------------------------------------------

  private record(server: 'hub' | 'cdn', req: http.IncomingMessage): void {
    this.requests.push({
      server,
      method: req.method ?? '',
      path: req.url ?? '',
      range: req.headers.range,
      authorization: req.headers.authorization,
    });
  }

  private handleHub(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.record('hub', req);
    if (this.failures.remaining > 0) {
      this.failures.remaining--;
      res.writeHead(this.failures.status, { 'content-type': 'text/plain' }).end('try again later');
      return;
    }
    const url = new URL(req.url ?? '/', 'http://placeholder');
    const parts = url.pathname.split('/').slice(1);
    const resolveAt = parts.indexOf('resolve');
    if (resolveAt < 1 || parts.length < resolveAt + 3) {
      res.writeHead(404).end('not a resolve URL');
      return;
    }
    const repoId = parts.slice(0, resolveAt).map(decodeURIComponent).join('/');
    const revision = decodeURIComponent(parts[resolveAt + 1]);
    const filename = parts.slice(resolveAt + 2).map(decodeURIComponent).join('/');

    const newId = this.renamed.get(repoId);
    if (newId !== undefined) {
      const rest = parts.slice(resolveAt).join('/');
      res.writeHead(307, { location: `/${newId}/${rest}${url.search}` }).end();
      return;
    }
    const repo = this.repos.get(repoId);
    if (!repo) {
      fail(res, 404, 'RepoNotFound', 'Repository not found');
      return;
    }
    if (repo.access === 'gated') {
      const auth = req.headers.authorization;
      if (auth === undefined) {
        fail(res, 401, 'GatedRepo', `Access to model ${repoId} is restricted. You must have access to it and be authenticated to access it. Please log in.`);
        return;
      }
      if (auth !== `Bearer ${this.validToken}`) {
        fail(res, 403, 'GatedRepo', `Access to model ${repoId} is restricted and you are not in the authorized list.`);
        return;
      }
    }
    const sha = repo.branches.get(revision) ?? (repo.commits.has(revision) ? revision : undefined);
    const commit = sha === undefined ? undefined : repo.commits.get(sha);
    if (!commit) {
      fail(res, 404, 'RevisionNotFound', 'Invalid rev id');
      return;
    }
    const file = commit.files.get(filename);
    if (!file) {
      fail(res, 404, 'EntryNotFound', 'Entry not found', { 'x-repo-commit': commit.sha });
      return;
    }
    const announced = file.content.length + (this.sizeLies.get(filename) ?? 0);
    if (file.lfs) {
      const oid = sha256(file.content);
      res
        .writeHead(302, {
          location: `${this.cdnOrigin}/cdn/${oid}?signature=fake&name=${encodeURIComponent(filename)}`,
          'x-repo-commit': commit.sha,
          'x-linked-etag': `"${oid}"`,
          'x-linked-size': String(announced),
          etag: `"${gitBlobSha1(Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${oid}\n`))}"`,
          'content-length': '0',
        })
        .end();
      return;
    }
    this.serveBytes(req, res, filename, file.content, {
      'x-repo-commit': commit.sha,
      etag: `"${gitBlobSha1(file.content)}"`,
    }, announced);
  }

  private handleCdn(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.record('cdn', req);
    const url = new URL(req.url ?? '/', 'http://placeholder');
    const m = /^\/cdn\/([0-9a-f]{64})$/.exec(url.pathname);
    const blob = m ? this.cdnBlobs.get(m[1]) : undefined;
    if (!m || !blob) {
      res.writeHead(404).end('NoSuchKey');
      return;
    }
    this.serveBytes(req, res, blob.name, blob.content, { etag: `"${m[1]}"` }, blob.content.length);
  }

  /** 200 or 206 with Range, applying the fault switches for `name`. */
  private serveBytes(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    name: string,
    content: Buffer,
    extra: http.OutgoingHttpHeaders,
    announcedSize: number,
  ): void {
    if (req.method === 'HEAD') {
      res.writeHead(200, { ...extra, 'content-length': String(announcedSize), 'accept-ranges': 'bytes' }).end();
      return;
    }
    let body = content;
    if (this.corruptPlans.delete(name)) {
      body = Buffer.from(content);
      body[body.length >> 1] ^= 0xff;
    }
    const range = parseRange(req.headers.range, body.length);
    if (range === 'unsatisfiable') {
      res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
      return;
    }
    let status = 200;
    const headers: http.OutgoingHttpHeaders = { ...extra, 'accept-ranges': 'bytes' };
    if (range) {
      status = 206;
      headers['content-range'] = `bytes ${range.start}-${range.end}/${body.length}`;
      body = body.subarray(range.start, range.end + 1);
    }
    headers['content-length'] = String(body.length);
    res.writeHead(status, headers);
    const drop = this.dropPlans.get(name);
    if (drop !== undefined && drop.afterBytes < body.length) {
      if (--drop.times <= 0) this.dropPlans.delete(name);
      // Send a prefix, then cut the TCP connection as a flaky network would. The pause lets the
      // client consume the prefix: a stream destroyed by the abort drops what it had buffered.
      res.write(body.subarray(0, drop.afterBytes), () => setTimeout(() => res.socket?.end(), 50));
      return;
    }
    res.end(body);
  }
}

function fail(res: http.ServerResponse, status: number, code: string, message: string, extra: http.OutgoingHttpHeaders = {}): void {
  res.writeHead(status, { 'x-error-code': code, 'x-error-message': message, 'content-type': 'application/json', ...extra });
  res.end(JSON.stringify({ error: message }));
}

function listen(server: http.Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
}

function origin(server: http.Server): string {
  const addr = server.address() as AddressInfo;
  return `http://127.0.0.1:${addr.port}`;
}

/** Close the server and every connection still open (keep-alive sockets would hold jest). */
function shutdown(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
