/**
 * A file written piece by piece that appears under its name only when complete: pieces go to a
 * temporary sibling (atomic-write.ts naming, so cleanStaleTemp knows it), `commit()` fsyncs and
 * renames it into place, `abort()` deletes it. Memory holds one piece at a time, whatever the
 * file's final size.
 */
import * as fs from 'fs';
import * as path from 'path';
import { FileWriteError, syncDirSync, tempSiblingPath } from './atomic-write';

export interface AtomicFileStream {
  readonly file: string;
  write(text: string): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

export async function openAtomicFileStream(file: string): Promise<AtomicFileStream> {
  const tmp = tempSiblingPath(file);
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(tmp, 'wx');
  } catch (e) {
    throw new FileWriteError(file, e);
  }
  let closed = false;
  const fail = async (e: unknown): Promise<never> => {
    await abort();
    throw e instanceof FileWriteError ? e : new FileWriteError(file, e);
  };
  const abort = async () => {
    if (!closed) {
      closed = true;
      await handle.close().catch(() => {});
    }
    await fs.promises.rm(tmp, { force: true });
  };
  return {
    file,
    async write(text: string) {
      if (closed) throw new Error(`${file}: written after commit or abort`);
      if (text === '') return;
      try {
        await handle.write(text, null, 'utf8');
      } catch (e) {
        await fail(e);
      }
    },
    async commit() {
      if (closed) throw new Error(`${file}: committed after commit or abort`);
      try {
        await handle.sync();
        closed = true;
        await handle.close();
        await fs.promises.rename(tmp, file);
      } catch (e) {
        await fail(e);
      }
      syncDirSync(path.dirname(file));
    },
    abort,
  };
}
