/** Hugging Face Hub access: cached downloads compatible with huggingface_hub's cache. */
export { hubDownload, tryHubDownload, snapshotDownload, hubFileUrl } from './hub-download';
export type { HubDownloadOptions, SnapshotDownloadOptions, DownloadProgress } from './hub-download';
export { lookupCache, repoFolderName } from './cache';
export type { CacheLookup, RepoType } from './cache';
export { hubCacheDir, hubEndpoint, hfHome, isOffline } from './config';
export * from './errors';
