/**
 * Minimal HTTP(S) client for the hub on top of Node's http/https modules (no runtime
 * dependencies). It never follows redirects by itself: the hub protocol needs to see them
 * (metadata requests follow only same-host relative redirects, downloads drop credentials when
 * a redirect leaves the hub host), so redirect policy lives in `sendFollowingRedirects`.
 */
import * as http from 'http';
import * as https from 'https';

export type HeaderMap = Record<string, string>;

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The URL this response answers (after any redirects that were followed). */
  url: string;
  /** Unconsumed body. The caller must read it to the end or destroy it. */
  body: http.IncomingMessage;
}

/**
 * The request got no usable answer: connection refused/reset, DNS failure, timeout, or the
 * connection closed before the body was complete. Always worth a retry.
 */
export class TransportError extends Error {
  readonly errno?: string;
  constructor(message: string, errno?: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'TransportError';
    this.errno = errno;
  }
}

const USER_AGENT = `gliner-tf; node/${process.versions.node}`;

/** First value of a response header (Node lowercases names; a few may arrive as arrays). */
export function header(res: { headers: http.IncomingHttpHeaders }, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

export function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

/** Throw away a body we do not need so the socket can go back to the keep-alive pool. */
export function discard(res: RawResponse): void {
  res.body.resume();
}

/** Read at most `limit` bytes of a (small, error) body as text. */
export async function readText(res: RawResponse, limit = 64 * 1024): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      if (size < limit) parts.push(chunk.subarray(0, limit - size));
      size += chunk.length;
    }
  } catch {
    // A broken error body is not worth failing over: we already have the status.
  }
  return Buffer.concat(parts).toString('utf8');
}

/**
 * Transport errors that no retry can fix (nothing listens there, the name does not resolve, the
 * URL is unusable, the certificate is wrong): failing at once beats 25 s of backoff.
 */
const PERMANENT_ERRNOS = new Set([
  'ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EINVALIDURL', 'EPROTO', 'EREDIRECTS',
  'CERT_HAS_EXPIRED', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'ERR_TLS_CERT_ALTNAME_INVALID', 'ERR_INVALID_URL',
]);

/** Whether a TransportError can go away by itself (reset, timeout, dropped body) and is worth a retry. */
export function isRecoverableTransport(e: TransportError): boolean {
  return e.errno === undefined || !PERMANENT_ERRNOS.has(e.errno);
}

/**
 * Send one request; resolves once the status line and headers have arrived. `timeoutMs` bounds
 * both the socket's silence (before or during the body) and the total time to the headers, so a
 * server trickling its status line a byte at a time cannot hold us forever.
 */
export function send(method: 'HEAD' | 'GET', url: string, headers: HeaderMap, timeoutMs: number): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch (e) {
      reject(new TransportError(`invalid URL ${url}`, 'EINVALIDURL', e));
      return;
    }
    const lib = parsed.protocol === 'https:' ? https : parsed.protocol === 'http:' ? http : null;
    if (!lib) {
      reject(new TransportError(`unsupported protocol in ${url}`, 'EPROTO'));
      return;
    }
    const req = lib.request(parsed, { method, headers: { 'user-agent': USER_AGENT, ...headers } });
    // Idle timeout: fires when the socket is silent that long, before or during the body.
    req.setTimeout(timeoutMs, () => {
      req.destroy(new TransportError(`no data from ${parsed.host} for ${timeoutMs / 1000}s`, 'ETIMEDOUT'));
    });
    // Deadline for connect + headers: the idle timeout alone restarts with every byte.
    const headersDeadline = setTimeout(() => {
      req.destroy(new TransportError(`no complete response headers from ${parsed.host} within ${timeoutMs / 1000}s`, 'ETIMEDOUT'));
    }, timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(headersDeadline);
      reject(err instanceof TransportError ? err : new TransportError(`${err.message} (${url})`, err.code, err));
    });
    req.on('response', (body) => {
      clearTimeout(headersDeadline);
      resolve({ status: body.statusCode ?? 0, headers: body.headers, url, body });
    });
    req.end();
  });
}

/** Whether a Location header is relative to the current host (what RFC 7231 allows). */
function isRelativeLocation(location: string): boolean {
  return !/^[a-z][a-z0-9+.-]*:/i.test(location) && !location.startsWith('//');
}

export interface RedirectPolicy {
  /** Follow only relative (same host) redirects; return the first absolute one as is. */
  relativeOnly: boolean;
  timeoutMs: number;
  maxRedirects?: number;
}

/**
 * Send a request and follow redirects according to `policy`. When a redirect leads to another
 * host (e.g. from the hub to its CDN, whose URLs are pre-signed) or downgrades https to http, the
 * Authorization header is dropped and is not restored on later hops.
 */
export async function sendFollowingRedirects(
  method: 'HEAD' | 'GET',
  url: string,
  headers: HeaderMap,
  policy: RedirectPolicy,
): Promise<RawResponse> {
  const max = policy.maxRedirects ?? 10;
  let current = url;
  let hdrs = { ...headers };
  for (let hop = 0; ; hop++) {
    const res = await send(method, current, hdrs, policy.timeoutMs);
    const location = header(res, 'location');
    if (!isRedirect(res.status) || location === undefined) return res;
    if (policy.relativeOnly && !isRelativeLocation(location)) return res;
    discard(res);
    if (hop >= max) throw new TransportError(`more than ${max} redirects starting from ${url}`, 'EREDIRECTS');
    const next = new URL(location, current);
    if (shouldDropCredentials(current, next.toString())) hdrs = withoutAuthorization(hdrs);
    current = next.toString();
  }
}

/**
 * The rule of `requests` (which huggingface_hub uses) and of browsers for a redirect from `from`
 * to `to`: keep credentials only on the same host name and port, with the same scheme or an
 * http -> https upgrade between default ports. Never on a downgrade to plain http (the token
 * would cross the network in clear text), never to another host or port.
 */
export function shouldDropCredentials(from: string, to: string): boolean {
  const a = new URL(from);
  const b = new URL(to);
  if (a.hostname !== b.hostname) return true;
  if (a.protocol === b.protocol) return a.port !== b.port;
  const upgrade = a.protocol === 'http:' && b.protocol === 'https:' && (a.port === '' || a.port === '80') && (b.port === '' || b.port === '443');
  return !upgrade;
}

export function withoutAuthorization(headers: HeaderMap): HeaderMap {
  const out: HeaderMap = {};
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() !== 'authorization') out[k] = v;
  return out;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Exponential backoff: base, 2*base, 4*base, ... capped at `maxMs`. */
export function backoffMs(attempt: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** attempt);
}

/** Statuses that mean "try again later" rather than "this will never work". */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status === 500 || status === 502 || status === 503 || status === 504;
}
