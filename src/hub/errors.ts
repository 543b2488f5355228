/**
 * Errors raised by the Hugging Face Hub client. Each carries a stable `code` so callers can
 * branch without matching message text; the codes for HTTP errors mirror the hub's own
 * `X-Error-Code` header values (RepoNotFound, EntryNotFound, RevisionNotFound, GatedRepo).
 */

export type HubErrorCode =
  | 'RepoNotFound'
  | 'EntryNotFound'
  | 'RevisionNotFound'
  | 'GatedRepo'
  | 'Unauthorized'
  | 'HttpError'
  | 'NetworkError'
  | 'FileMetadata'
  | 'Consistency'
  | 'LocalEntryNotFound'
  | 'DiskSpace'
  | 'InvalidArgument';

export interface HubErrorDetails {
  status?: number;
  url?: string;
  /** X-Repo-Commit of the response, when the hub sent one (it does on EntryNotFound). */
  commit?: string;
  cause?: unknown;
}

export class HubError extends Error {
  readonly code: HubErrorCode;
  /** HTTP status when the error came from a response. */
  readonly status?: number;
  /** URL of the failing request (never contains credentials: tokens travel in headers). */
  readonly url?: string;
  /** Commit the hub resolved the revision to, when known. */
  readonly commit?: string;

  constructor(code: HubErrorCode, message: string, details: HubErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = details.status;
    this.url = details.url;
    this.commit = details.commit;
  }
}

/** The repository does not exist, or is private/gated and the request was not authorized. */
export class RepositoryNotFoundError extends HubError {
  constructor(message: string, details?: HubErrorDetails) {
    super('RepoNotFound', message, details);
  }
}

/** The repository exists but the revision (branch, tag, commit) does not. */
export class RevisionNotFoundError extends HubError {
  constructor(message: string, details?: HubErrorDetails) {
    super('RevisionNotFound', message, details);
  }
}

/** The repository and revision exist but the file does not. */
export class EntryNotFoundError extends HubError {
  constructor(message: string, details?: HubErrorDetails) {
    super('EntryNotFound', message, details);
  }
}

/** The repository is gated: the user must accept its conditions and authenticate. */
export class GatedRepoError extends HubError {
  constructor(message: string, details?: HubErrorDetails) {
    super('GatedRepo', message, details);
  }
}

/** 401/403 without a more specific hub error code. */
export class HubAuthError extends HubError {
  constructor(message: string, details?: HubErrorDetails) {
    super('Unauthorized', message, details);
  }
}

/** Any other unexpected HTTP status. */
export class HubHttpError extends HubError {
  constructor(message: string, details?: HubErrorDetails) {
    super('HttpError', message, details);
  }
}

/** The hub could not be reached (after retries). */
export class HubNetworkError extends HubError {
  constructor(message: string, details?: HubErrorDetails) {
    super('NetworkError', message, details);
  }
}

/** The server answered but without the headers that identify a hub file (commit, etag, size). */
export class FileMetadataError extends HubError {
  constructor(message: string, details?: HubErrorDetails) {
    super('FileMetadata', message, details);
  }
}

/** The downloaded bytes do not match the announced size or checksum. */
export class ConsistencyError extends HubError {
  constructor(message: string, details?: HubErrorDetails) {
    super('Consistency', message, details);
  }
}

/** Offline (HF_HUB_OFFLINE / localFilesOnly) or unreachable hub, and the file is not cached. */
export class LocalEntryNotFoundError extends HubError {
  constructor(message: string, details?: HubErrorDetails) {
    super('LocalEntryNotFound', message, details);
  }
}

/** The cache's disk cannot hold the file (checked before downloading, or ENOSPC while writing). */
export class InsufficientDiskSpaceError extends HubError {
  constructor(message: string, details?: HubErrorDetails) {
    super('DiskSpace', message, details);
  }
}
