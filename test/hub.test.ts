/**
 * Hub download client against a local fake hub (test/helpers/fake-hub.ts): cache layout,
 * reuse without downloads, resume, offline mode, error mapping, credentials across hosts.
 * Every test uses its own temporary cache; HF_HOME points at a temporary folder so the user's
 * real cache and token are never read.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import { AddressInfo } from 'net';
import * as os from 'os';
import * as path from 'path';
import {
  ConsistencyError,
  EntryNotFoundError,
  GatedRepoError,
  HubAuthError,
  HubError,
  HubNetworkError,
  LocalEntryNotFoundError,
  RepositoryNotFoundError,
  RevisionNotFoundError,
  hubCacheDir,
  hubEndpoint,
  lookupCache,
  repoFolderName,
} from '../src/hub';
import { DownloadProgress, HubDownloadOptions, hubDownload, hubFileUrl, snapshotDownload, tryHubDownload } from '../src/hub/hub-download';
import { formatBytes, formatDuration, ProgressBar, ProgressStream } from '../src/util/progress';
import { FakeHub, TINY_GLINER_DIR, fakeCommit, gitBlobSha1, sha256, tinyGlinerFiles } from './helpers/fake-hub';

const REPO = 'test-org/tiny-gliner';
const GATED = 'test-org/gated-gliner';
const C1 = fakeCommit('tiny-gliner-1');
const C2 = fakeCommit('tiny-gliner-2');
const GATED_COMMIT = fakeCommit('gated-1');

const HF_ENV = [
  'HF_HOME', 'HF_HUB_CACHE', 'HUGGINGFACE_HUB_CACHE', 'HF_ENDPOINT', 'HF_TOKEN', 'HUGGING_FACE_HUB_TOKEN', 'HF_TOKEN_PATH',
  'HF_HUB_OFFLINE', 'TRANSFORMERS_OFFLINE', 'HF_HUB_DISABLE_SYMLINKS', 'HF_HUB_DISABLE_PROGRESS_BARS', 'XDG_CACHE_HOME',
];

const fixture = (name: string): Buffer => fs.readFileSync(path.join(TINY_GLINER_DIR, name));
const MODEL = fixture('model.safetensors');
const MODEL_SHA = sha256(MODEL);
const CONFIG_BLOB = gitBlobSha1(fixture('config.json'));

/** Byte equality; jest's toEqual walks Buffers element by element and takes seconds on the model. */
function expectBytes(file: string, expected: Buffer): void {
  const actual = fs.readFileSync(file);
  expect(actual.length).toBe(expected.length);
  expect(actual.equals(expected)).toBe(true);
}

let hub: FakeHub;
let tmpRoot: string;
let cacheDir: string;
let storage: string;
const savedEnv: Record<string, string | undefined> = {};

/** Options every test uses: the fake hub, the per-test cache, no bar, fast retries. */
function opts(extra: HubDownloadOptions = {}): HubDownloadOptions {
  return { endpoint: hub.endpoint, cacheDir, quiet: true, retryDelayMs: 1, ...extra };
}

async function withEnv<T>(vars: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const before = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(before)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** A port nothing listens on: open a server, note its port, close it. */
async function deadEndpoint(): Promise<string> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

beforeAll(async () => {
  for (const k of HF_ENV) {
    savedEnv[k] = process.env[k];
    delete process.env[k];
  }
  tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'gliner-hub-test-'));
  process.env.HF_HOME = path.join(tmpRoot, 'hf-home'); // no real token file, no real cache
  hub = await FakeHub.start();
  const files = tinyGlinerFiles();
  hub.addCommit(REPO, C1, files, { branches: ['main'] });
  // v2 changes config.json only: model.safetensors keeps the same blob.
  hub.addCommit(REPO, C2, { ...files, 'config.json': { content: Buffer.from('{"v": 2}\n'), lfs: false } }, { branches: ['v2'] });
  hub.addCommit(GATED, GATED_COMMIT, { 'config.json': files['config.json'], 'model.safetensors': files['model.safetensors'] }, { access: 'gated' });
  hub.rename('test-org/old-tiny-name', REPO);
});

afterAll(async () => {
  await hub.close();
  fs.rmSync(tmpRoot, { recursive: true, force: true });
  for (const k of HF_ENV) {
    if (savedEnv[k] === undefined) delete process.env[k];
    else process.env[k] = savedEnv[k];
  }
});

let caseNo = 0;
beforeEach(() => {
  cacheDir = path.join(tmpRoot, `cache-${++caseNo}`);
  storage = path.join(cacheDir, repoFolderName(REPO));
  hub.clearRequests();
  hub.resetFaults();
});

describe('cache layout', () => {
  test('downloads into blobs/, snapshots/ (relative symlinks) and refs/ like huggingface_hub', async () => {
    const config = await hubDownload(REPO, 'config.json', opts());
    const model = await hubDownload(REPO, 'model.safetensors', opts());

    expect(config).toBe(path.join(storage, 'snapshots', C1, 'config.json'));
    expect(model).toBe(path.join(storage, 'snapshots', C1, 'model.safetensors'));
    expectBytes(config, fixture('config.json'));
    expectBytes(model, MODEL);

    // Regular files are named by their git blob sha1, LFS files by their sha256.
    expect(fs.lstatSync(config).isSymbolicLink()).toBe(true);
    expect(fs.readlinkSync(config)).toBe(path.join('..', '..', 'blobs', CONFIG_BLOB));
    expect(fs.readlinkSync(model)).toBe(path.join('..', '..', 'blobs', MODEL_SHA));
    expect(fs.readFileSync(path.join(storage, 'refs', 'main'), 'utf8')).toBe(C1);
    expect(fs.readdirSync(path.join(storage, 'blobs')).sort()).toEqual([CONFIG_BLOB, MODEL_SHA].sort());
    // No leftovers: partial files and locks are gone.
    expect(fs.readdirSync(path.join(cacheDir, '.locks', repoFolderName(REPO)))).toEqual([]);

    // The LFS file was fetched from the CDN, after a HEAD on the hub.
    expect(hub.count({ server: 'hub', method: 'HEAD' })).toBe(2);
    expect(hub.count({ server: 'hub', method: 'GET' })).toBe(1);
    expect(hub.count({ server: 'cdn', method: 'GET' })).toBe(1);
  });

  test('a second call makes only the metadata request, no download', async () => {
    const first = await hubDownload(REPO, 'model.safetensors', opts());
    hub.clearRequests();
    const second = await hubDownload(REPO, 'model.safetensors', opts());
    expect(second).toBe(first);
    expect(hub.count({ method: 'GET' })).toBe(0);
    expect(hub.count({ method: 'HEAD' })).toBe(1);
  });

  test('an existing blob is reused for another revision (new snapshot link, no download)', async () => {
    await hubDownload(REPO, 'model.safetensors', opts());
    hub.clearRequests();
    const atV2 = await hubDownload(REPO, 'model.safetensors', opts({ revision: 'v2' }));
    expect(atV2).toBe(path.join(storage, 'snapshots', C2, 'model.safetensors'));
    expectBytes(atV2, MODEL);
    expect(hub.count({ method: 'GET' })).toBe(0);
    expect(fs.readFileSync(path.join(storage, 'refs', 'v2'), 'utf8')).toBe(C2);
    // The changed file does get downloaded for v2.
    expect(fs.readFileSync(await hubDownload(REPO, 'config.json', opts({ revision: 'v2' })), 'utf8')).toBe('{"v": 2}\n');
  });

  test('revision given as a commit sha: no ref written, and no request at all once cached', async () => {
    const p = await hubDownload(REPO, 'config.json', opts({ revision: C1 }));
    expect(p).toBe(path.join(storage, 'snapshots', C1, 'config.json'));
    expect(fs.existsSync(path.join(storage, 'refs'))).toBe(false);
    expect(hub.requests[0].path).toBe(`/${REPO}/resolve/${C1}/config.json`);
    hub.clearRequests();
    expect(await hubDownload(REPO, 'config.json', opts({ revision: C1 }))).toBe(p);
    expect(hub.requests).toEqual([]);
  });

  test('falls back to copies when symlinks are disabled (HF_HUB_DISABLE_SYMLINKS)', async () => {
    const p = await withEnv({ HF_HUB_DISABLE_SYMLINKS: '1' }, () => hubDownload(REPO, 'config.json', opts()));
    expect(fs.lstatSync(p).isSymbolicLink()).toBe(false);
    expectBytes(p, fixture('config.json'));
  });

  test('follows a relative redirect for a renamed repo', async () => {
    const p = await hubDownload('test-org/old-tiny-name', 'config.json', opts());
    expectBytes(p, fixture('config.json'));
    expect(hub.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'HEAD /test-org/old-tiny-name/resolve/main/config.json',
      `HEAD /${REPO}/resolve/main/config.json`,
      `GET /${REPO}/resolve/main/config.json`,
    ]);
  });

  test('concurrent downloads of the same file in one process download it once', async () => {
    const [a, b] = await Promise.all([hubDownload(REPO, 'model.safetensors', opts()), hubDownload(REPO, 'model.safetensors', opts())]);
    expect(a).toBe(b);
    expectBytes(a, MODEL);
    expect(hub.count({ server: 'cdn', method: 'GET' })).toBe(1);
  });

  test('a lock left by a dead process (or an earlier run with our pid) does not block', async () => {
    const lockDir = path.join(cacheDir, '.locks', repoFolderName(REPO));
    fs.mkdirSync(lockDir, { recursive: true });
    const deadPid = spawnSync(process.execPath, ['-e', '']).pid;
    fs.writeFileSync(path.join(lockDir, `${MODEL_SHA}.gliner-tf.lock`), `${deadPid}@${os.hostname()}\n`);
    fs.writeFileSync(path.join(lockDir, `${CONFIG_BLOB}.gliner-tf.lock`), `${process.pid}@${os.hostname()}\n`);
    expectBytes(await hubDownload(REPO, 'model.safetensors', opts()), MODEL);
    expectBytes(await hubDownload(REPO, 'config.json', opts()), fixture('config.json'));
    expect(fs.readdirSync(lockDir)).toEqual([]);
  });

  test('lookupCache reads the layout without network', async () => {
    expect(lookupCache(storage, 'main', 'config.json').status).toBe('missing');
    const p = await hubDownload(REPO, 'config.json', opts());
    expect(lookupCache(storage, 'main', 'config.json')).toEqual({ status: 'cached', path: p, commit: C1 });
  });
});

describe('resume and integrity', () => {
  test('resumes with a Range request after the connection drops mid-file', async () => {
    hub.dropConnection('model.safetensors', 100_000);
    const progress: DownloadProgress[] = [];
    const p = await hubDownload(REPO, 'model.safetensors', opts({ onProgress: (e) => progress.push(e) }));
    expectBytes(p, MODEL);
    const gets = hub.requests.filter((r) => r.server === 'cdn' && r.method === 'GET');
    // The second request continues where the first stopped (normally byte 100000; fewer if the
    // client had not read everything before the connection died).
    expect(gets.length).toBe(2);
    expect(gets[0].range).toBeUndefined();
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(gets[1].range ?? '')?.[1]);
    expect(resumedAt).toBeGreaterThan(0);
    expect(resumedAt).toBeLessThanOrEqual(100_000);
    expect(progress[progress.length - 1]).toEqual({ file: 'model.safetensors', downloaded: MODEL.length, total: MODEL.length });
    expect(fs.existsSync(path.join(storage, 'blobs', `${MODEL_SHA}.incomplete`))).toBe(false);
  });

  test('keeps going while data arrives, even past maxRetries drops', async () => {
    hub.dropConnection('model.safetensors', 40_000, 4);
    const p = await hubDownload(REPO, 'model.safetensors', opts({ maxRetries: 1 }));
    expectBytes(p, MODEL);
    expect(hub.count({ server: 'cdn', method: 'GET' })).toBe(5);
  });

  test('resumes a partial .incomplete file left by an earlier run', async () => {
    fs.mkdirSync(path.join(storage, 'blobs'), { recursive: true });
    fs.writeFileSync(path.join(storage, 'blobs', `${MODEL_SHA}.incomplete`), MODEL.subarray(0, 50_000));
    const p = await hubDownload(REPO, 'model.safetensors', opts());
    expectBytes(p, MODEL);
    expect(hub.requests.filter((r) => r.server === 'cdn').map((r) => r.range)).toEqual(['bytes=50000-']);
  });

  test('a corrupt partial file is caught by the sha256 check and deleted', async () => {
    fs.mkdirSync(path.join(storage, 'blobs'), { recursive: true });
    const incomplete = path.join(storage, 'blobs', `${MODEL_SHA}.incomplete`);
    fs.writeFileSync(incomplete, Buffer.alloc(50_000, 7));
    await expect(hubDownload(REPO, 'model.safetensors', opts())).rejects.toThrow(ConsistencyError);
    expect(fs.existsSync(incomplete)).toBe(false);
    expect(fs.existsSync(path.join(storage, 'blobs', MODEL_SHA))).toBe(false);
    // The next attempt starts from scratch and succeeds.
    expectBytes(await hubDownload(REPO, 'model.safetensors', opts()), MODEL);
  });

  test('corrupted bytes from the server fail the checksum', async () => {
    hub.corruptOnce('model.safetensors');
    await expect(hubDownload(REPO, 'model.safetensors', opts())).rejects.toThrow(/Checksum mismatch for 'model.safetensors'/);
    expect(fs.existsSync(path.join(storage, 'snapshots', C1, 'model.safetensors'))).toBe(false);
  });

  test('detects a size mismatch and deletes the partial file', async () => {
    hub.misreportSize('model.safetensors', 10);
    try {
      const err = await hubDownload(REPO, 'model.safetensors', opts()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConsistencyError);
      expect((err as Error).message).toMatch(`should be ${MODEL.length + 10} bytes but ${MODEL.length} were downloaded`);
      expect(fs.readdirSync(path.join(storage, 'blobs'))).toEqual([]);
      expect(fs.existsSync(path.join(storage, 'snapshots', C1, 'model.safetensors'))).toBe(false);

      hub.misreportSize('model.safetensors', -10); // the server sends more than announced
      await expect(hubDownload(REPO, 'model.safetensors', opts())).rejects.toThrow(/server sent more/);
      expect(fs.readdirSync(path.join(storage, 'blobs'))).toEqual([]);
    } finally {
      hub.misreportSize('model.safetensors', 0);
    }
  });

  test('a download that keeps failing gives up, keeping the partial file for next time', async () => {
    fs.mkdirSync(path.join(storage, 'blobs'), { recursive: true });
    const incomplete = path.join(storage, 'blobs', `${MODEL_SHA}.incomplete`);
    fs.writeFileSync(incomplete, MODEL.subarray(0, 50_000));
    hub.dropConnection('model.safetensors', 0, 10); // connections die before any byte arrives
    const err = await hubDownload(REPO, 'model.safetensors', opts({ maxRetries: 2 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HubNetworkError);
    expect((err as Error).message).toContain(`failed after 3 attempt(s)`);
    expect((err as Error).message).toContain(`The 50000 bytes received are kept in ${incomplete}`);
    expect(fs.statSync(incomplete).size).toBe(50_000);
    expect(hub.count({ server: 'cdn', method: 'GET' })).toBe(3);

    hub.resetFaults();
    expectBytes(await hubDownload(REPO, 'model.safetensors', opts()), MODEL);
  });

  test('fails at once, without retries, when nothing listens at the endpoint (connection refused)', async () => {
    const endpoint = await deadEndpoint();
    // A retry delay far beyond the test timeout: any backoff at all would fail the test.
    const err = await hubDownload(REPO, 'config.json', opts({ endpoint, maxRetries: 5, retryDelayMs: 60_000 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HubNetworkError);
    const msg = (err as Error).message;
    expect(msg).toContain(`'config.json' from model '${REPO}' on ${endpoint} after 1 attempt(s)`);
    expect(msg).toContain('ECONNREFUSED');
    expect(msg).toContain('--offline (HF_HUB_OFFLINE=1)');
    expect(msg).toContain('HF_ENDPOINT');
  });

  test('retries 503 answers with backoff', async () => {
    hub.failNext(2, 503);
    const p = await hubDownload(REPO, 'config.json', opts());
    expectBytes(p, fixture('config.json'));
    expect(hub.count({ server: 'hub', method: 'HEAD' })).toBe(3);
  });

  test('uses the cached copy when the hub cannot be reached', async () => {
    const p = await hubDownload(REPO, 'config.json', opts());
    const endpoint = await deadEndpoint();
    expect(await hubDownload(REPO, 'config.json', opts({ endpoint, maxRetries: 0 }))).toBe(p);
  });
});

describe('offline mode', () => {
  test('HF_HUB_OFFLINE=1 without a cache: error naming repo, file and cache path, no request', async () => {
    const err = await withEnv({ HF_HUB_OFFLINE: '1' }, () => hubDownload(REPO, 'config.json', opts()).catch((e: unknown) => e));
    expect(err).toBeInstanceOf(LocalEntryNotFoundError);
    const msg = (err as Error).message;
    expect(msg).toContain(`'config.json'`);
    expect(msg).toContain(REPO);
    expect(msg).toContain(path.join(storage, 'refs', 'main'));
    expect(msg).toContain('HF_HUB_OFFLINE');
    expect(hub.requests).toEqual([]);
  });

  test('offline with the file cached resolves through refs/<revision>, or a commit sha', async () => {
    const p = await hubDownload(REPO, 'config.json', opts());
    hub.clearRequests();
    expect(await withEnv({ HF_HUB_OFFLINE: 'true' }, () => hubDownload(REPO, 'config.json', opts()))).toBe(p);
    expect(await hubDownload(REPO, 'config.json', opts({ localFilesOnly: true, revision: C1 }))).toBe(p);
    expect(hub.requests).toEqual([]);
  });

  test('localFilesOnly: the missing snapshot path is named when the ref exists but the file does not', async () => {
    await hubDownload(REPO, 'config.json', opts());
    const err = await hubDownload(REPO, 'gliner_config.json', opts({ localFilesOnly: true })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LocalEntryNotFoundError);
    expect((err as Error).message).toContain(path.join(storage, 'snapshots', C1, 'gliner_config.json'));
    expect((err as Error).message).toContain('localFilesOnly');
  });
});

describe('errors', () => {
  test('missing file: EntryNotFoundError, recorded in .no_exist; tryHubDownload gives null', async () => {
    const err = await hubDownload(REPO, 'tokenizer.json', opts()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EntryNotFoundError);
    expect(err).toMatchObject({ code: 'EntryNotFound', status: 404 });
    expect((err as Error).message).toContain(`File 'tokenizer.json' does not exist in model '${REPO}' at revision 'main'`);
    expect(fs.existsSync(path.join(storage, '.no_exist', C1, 'tokenizer.json'))).toBe(true);

    hub.clearRequests();
    expect(await tryHubDownload(REPO, 'tokenizer.json', opts())).toBeNull();
    expect(hub.requests).toEqual([]); // answered from .no_exist
    expect(await tryHubDownload(REPO, 'tokenizer.json', opts({ localFilesOnly: true }))).toBeNull();
    expect(await tryHubDownload(REPO, 'added_tokens.json', opts())).toBe(path.join(storage, 'snapshots', C1, 'added_tokens.json'));
  });

  test('missing repo and missing revision are told apart', async () => {
    const repoErr = await hubDownload('test-org/nope', 'config.json', opts()).catch((e: unknown) => e);
    expect(repoErr).toBeInstanceOf(RepositoryNotFoundError);
    expect((repoErr as Error).message).toMatch(/Repository model 'test-org\/nope' was not found.*HF_TOKEN/s);
    await expect(tryHubDownload('test-org/nope', 'config.json', opts())).rejects.toThrow(RepositoryNotFoundError);

    const revErr = await hubDownload(REPO, 'config.json', opts({ revision: 'no-such-branch' })).catch((e: unknown) => e);
    expect(revErr).toBeInstanceOf(RevisionNotFoundError);
    expect((revErr as Error).message).toContain(`Revision 'no-such-branch' does not exist in model '${REPO}'`);
  });

  test('gated repo: 401 without a token, 403 with a bad one, both saying to set HF_TOKEN', async () => {
    const noToken = await hubDownload(GATED, 'config.json', opts()).catch((e: unknown) => e);
    expect(noToken).toBeInstanceOf(GatedRepoError);
    expect(noToken).toMatchObject({ status: 401 });
    expect((noToken as Error).message).toMatch(/gated.*No token was sent: set HF_TOKEN/s);
    expect((noToken as Error).message).toContain(`${hub.endpoint}/${GATED}`);

    const badToken = await hubDownload(GATED, 'config.json', opts({ token: 'hf_wrong' })).catch((e: unknown) => e);
    expect(badToken).toBeInstanceOf(GatedRepoError);
    expect(badToken).toMatchObject({ status: 403 });
    expect((badToken as Error).message).toContain('A token was sent but does not grant access');
    expect((badToken as Error).message).not.toContain('hf_wrong'); // never echo credentials
  });

  test('a 401 without a hub error code says the repo may be private or gated and to set HF_TOKEN', async () => {
    hub.failNext(1, 401);
    const err = await hubDownload(REPO, 'config.json', opts()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HubAuthError);
    expect(err).toMatchObject({ code: 'Unauthorized', status: 401 });
    expect((err as Error).message).toMatch(/may be private or gated.*set HF_TOKEN/s);
  });

  test('token goes to the hub host but not to the CDN host it redirects to', async () => {
    const p = await hubDownload(GATED, 'model.safetensors', opts({ token: hub.validToken }));
    expectBytes(p, MODEL);
    const hubReqs = hub.requests.filter((r) => r.server === 'hub');
    const cdnReqs = hub.requests.filter((r) => r.server === 'cdn');
    expect(hubReqs.length).toBeGreaterThan(0);
    expect(hubReqs.every((r) => r.authorization === `Bearer ${hub.validToken}`)).toBe(true);
    expect(cdnReqs.length).toBe(1);
    expect(cdnReqs[0].authorization).toBeUndefined();
  });

  test('HF_TOKEN from the environment is used; token: false sends none', async () => {
    const p = await withEnv({ HF_TOKEN: hub.validToken }, () => hubDownload(GATED, 'config.json', opts()));
    expectBytes(p, fixture('config.json'));
    // GET of a regular file stays on the hub host, so it keeps the token.
    expect(hub.requests.map((r) => r.authorization)).toEqual([`Bearer ${hub.validToken}`, `Bearer ${hub.validToken}`]);
    await expect(
      withEnv({ HF_TOKEN: hub.validToken }, () => hubDownload(GATED, 'model.safetensors', opts({ token: false }))),
    ).rejects.toThrow(GatedRepoError);
  });

  test('a token in $HF_HOME/token (huggingface-cli login) is picked up', async () => {
    const home = path.join(tmpRoot, 'login-home');
    fs.mkdirSync(home, { recursive: true });
    fs.writeFileSync(path.join(home, 'token'), `${hub.validToken}\n`);
    const p = await withEnv({ HF_HOME: home }, () => hubDownload(GATED, 'config.json', opts()));
    expect(fs.existsSync(p)).toBe(true);
  });

  test('rejects repo ids and file names that would escape the cache', async () => {
    await expect(hubDownload('../etc', 'config.json', opts())).rejects.toThrow(/Invalid repo id/);
    await expect(hubDownload('a--b/c', 'config.json', opts())).rejects.toThrow(/Invalid repo id/);
    await expect(hubDownload(REPO, '../../x', opts())).rejects.toThrow(/Invalid file name/);
    await expect(hubDownload(REPO, '/abs', opts())).rejects.toThrow(HubError);
    expect(hub.requests).toEqual([]);
  });
});

describe('snapshotDownload', () => {
  test('fetches required and optional files from one commit and returns the snapshot folder', async () => {
    const required = ['config.json', 'gliner_config.json', 'model.safetensors'];
    const optional = ['spm.model', 'tokenizer.json', 'special_tokens_map.json'];
    const dir = await snapshotDownload(REPO, required, { ...opts({ revision: 'main' }), optional });
    expect(dir).toBe(path.join(storage, 'snapshots', C1));
    expect(fs.readdirSync(dir).sort()).toEqual([...required, 'spm.model', 'special_tokens_map.json'].sort());
    expect(fs.existsSync(path.join(storage, '.no_exist', C1, 'tokenizer.json'))).toBe(true);
    // After the first file the revision is pinned to the commit sha.
    expect(hub.requests.filter((r) => r.server === 'hub' && r.method === 'HEAD').slice(1).every((r) => r.path.includes(C1))).toBe(true);

    // Everything cached: one HEAD to see where main points now, nothing else.
    hub.clearRequests();
    expect(await snapshotDownload(REPO, required, { ...opts(), optional })).toBe(dir);
    expect(hub.requests.map((r) => r.method)).toEqual(['HEAD']);

    // And offline it works from the cache alone.
    hub.clearRequests();
    expect(await snapshotDownload(REPO, required, { ...opts({ localFilesOnly: true }), optional })).toBe(dir);
    expect(hub.requests).toEqual([]);
  });

  test('a missing required file fails the snapshot', async () => {
    await expect(snapshotDownload(REPO, ['config.json', 'tokenizer.json'], opts())).rejects.toThrow(EntryNotFoundError);
  });
});

describe('settings from the environment', () => {
  test('cache dir: HF_HUB_CACHE, else HF_HOME/hub, else XDG_CACHE_HOME/huggingface/hub', () => {
    expect(hubCacheDir({ HF_HUB_CACHE: '/x/cache', HF_HOME: '/y' })).toBe(path.resolve('/x/cache'));
    expect(hubCacheDir({ HF_HOME: '/y' })).toBe(path.resolve('/y/hub'));
    expect(hubCacheDir({ XDG_CACHE_HOME: '/z' })).toBe(path.resolve('/z/huggingface/hub'));
    expect(hubCacheDir({})).toBe(path.join(os.homedir(), '.cache', 'huggingface', 'hub'));
  });

  test('endpoint: HF_ENDPOINT without trailing slash, else huggingface.co', () => {
    expect(hubEndpoint({ HF_ENDPOINT: 'https://mirror.example/' })).toBe('https://mirror.example');
    expect(hubEndpoint({})).toBe('https://huggingface.co');
    expect(hubFileUrl('org/name', 'sub dir/a#b.json', 'refs/pr/1', 'https://h.co')).toBe(
      'https://h.co/org/name/resolve/refs%2Fpr%2F1/sub%20dir/a%23b.json',
    );
  });

  test('HF_ENDPOINT is used when no endpoint option is given', async () => {
    const p = await withEnv({ HF_ENDPOINT: hub.endpoint }, () => hubDownload(REPO, 'config.json', { cacheDir, quiet: true }));
    expectBytes(p, fixture('config.json'));
  });
});

describe('ProgressBar', () => {
  function fakeTty(columns = 120): ProgressStream & { out: string[] } {
    const out: string[] = [];
    return { out, isTTY: true, columns, write: (s: string) => out.push(s) };
  }

  test('draws percentage, bytes and speed on a TTY and ends the line on finish', () => {
    const stream = fakeTty();
    const bar = new ProgressBar('model.safetensors', 2_000_000, { stream, unit: 'B', minIntervalMs: 0 });
    bar.update(500_000);
    bar.update(500_000);
    bar.finish();
    bar.finish(); // idempotent
    const last = stream.out[stream.out.length - 1];
    expect(stream.out.length).toBe(3);
    expect(last.endsWith('\n')).toBe(true);
    expect(last).toContain('model.safetensors  50% [##########..........] 1.0 MB/2.0 MB');
    expect(last).toMatch(/B\/s/);
  });

  test('is silent when not a TTY or when quiet, but still counts', () => {
    const notTty = { out: [] as string[], isTTY: false, write(s: string) { this.out.push(s); } };
    const a = new ProgressBar('x', 10, { stream: notTty });
    a.update(3);
    a.finish();
    expect(notTty.out).toEqual([]);
    expect(a.value).toBe(3);
    const tty = fakeTty();
    const b = new ProgressBar('x', 10, { stream: tty, quiet: true });
    b.update();
    b.finish();
    expect(tty.out).toEqual([]);
  });

  test('generic units, unknown totals, suffix and width limit', () => {
    const stream = fakeTty(40);
    const bar = new ProgressBar('train', undefined, { stream, unit: 'step', minIntervalMs: 0 });
    bar.update(7);
    bar.setSuffix('loss 0.123');
    expect(bar.render()).toMatch(/^train 7 step [\d.]+ step\/s loss 0.123$/);
    bar.setTotal(10);
    expect(bar.render().length).toBeLessThanOrEqual(39);
  });

  test('formatters', () => {
    expect(formatBytes(999)).toBe('999 B');
    expect(formatBytes(271_440)).toBe('271.4 kB');
    expect(formatBytes(1.5e9)).toBe('1.5 GB');
    expect(formatDuration(59)).toBe('59s');
    expect(formatDuration(245)).toBe('4m05s');
    expect(formatDuration(7380)).toBe('2h03m');
  });
});
