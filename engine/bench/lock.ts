// Lock files, so two processes never write one place at once: the server holds DATA/kvlab.lock
// for its lifetime (two servers on one data dir would share one queue and index and run the
// same run twice), and the executor holds results/<run id>/run.lock while a run writes its
// folder (a bench CLI, or anything else that takes the same lock, sees it busy).
//
// The lock is the operating system's advisory file lock (flock via Deno.FsFile.tryLockSync) on
// the lock file, held on an open file for as long as the lock is: the kernel drops it when the
// process ends in any way (SIGKILL and crashes included), so a lock whose process is gone is
// free by construction: its file is merely stale text, overwritten by the next holder. No pid
// probing is needed (Deno allows /proc and signals only with broad permissions the server does
// not have). The file's text, {pid, purpose, since}, is for the error message only. The file
// is never removed (removing it could let two processes lock two different inodes of one
// path); release() empties it. Advisory locks are local to a machine: a data dir on a network
// file system shared by two hosts is not protected.
// Not here: what is locked (server/app.ts, server/executor.ts, engine/bench/main.ts).

export interface LockInfo {
  readonly pid: number;
  /** What the holder is doing ("kvlab serve", "run tasks-…"). */
  readonly purpose: string;
  readonly since: string;
}

/** The lock is held by another live process (or by this one, through another handle). */
export class LockError extends Error {
  override name = "LockError";
  constructor(readonly path: string, readonly holder: LockInfo | null, message: string) {
    super(message);
  }
}

export interface Lock {
  readonly path: string;
  readonly info: LockInfo;
  /** Empties the file and drops the lock; idempotent. */
  release(): void;
}

function parseInfo(text: string): LockInfo | null {
  try {
    const v = JSON.parse(text);
    if (v && typeof v === "object" && Number.isInteger(v.pid)) {
      return { pid: v.pid, purpose: String(v.purpose ?? ""), since: String(v.since ?? "") };
    }
  } catch {
    // empty (released) or foreign content
  }
  return null;
}

function readAll(f: Deno.FsFile): string {
  f.seekSync(0, Deno.SeekMode.Start);
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(4096);
  for (let n = f.readSync(buf); n !== null && n > 0; n = f.readSync(buf)) {
    chunks.push(buf.slice(0, n));
  }
  const all = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  return new TextDecoder().decode(all);
}

/**
 * Takes the lock on `path` (creating the file) for this process; throws LockError naming the
 * holder when another open lock holds it. A file left by a process that is gone does not stop
 * it: the kernel released that process's lock.
 */
export function acquireLock(path: string, purpose: string): Lock {
  const f = Deno.openSync(path, { read: true, write: true, create: true });
  let locked = false;
  try {
    locked = f.tryLockSync(true);
    if (!locked) {
      const holder = parseInfo(readAll(f));
      const who = holder
        ? `pid ${holder.pid}${holder.pid === Deno.pid ? " (this process)" : ""} (${
          holder.purpose || "unknown"
        }, since ${holder.since || "?"})`
        : "another process";
      throw new LockError(
        path,
        holder,
        `${path} is held by ${who}: another writer is using it; stop it first (the lock ends ` +
          `with its process)`,
      );
    }
    const info: LockInfo = { pid: Deno.pid, purpose, since: new Date().toISOString() };
    f.truncateSync(0);
    f.seekSync(0, Deno.SeekMode.Start);
    const bytes = new TextEncoder().encode(JSON.stringify(info) + "\n");
    for (let n = 0; n < bytes.length;) n += f.writeSync(bytes.subarray(n));
    let released = false;
    return {
      path,
      info,
      release() {
        if (released) return;
        released = true;
        try {
          f.truncateSync(0);
          f.unlockSync();
        } finally {
          f.close();
        }
      },
    };
  } catch (e) {
    if (locked) f.unlockSync();
    f.close();
    throw e;
  }
}

/** The holder a lock file names and whether a live lock holds it now (for status and tests). */
export function readLock(path: string): { info: LockInfo | null; held: boolean } | null {
  let f: Deno.FsFile;
  try {
    f = Deno.openSync(path, { read: true, write: true });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  try {
    const free = f.tryLockSync(true);
    if (free) f.unlockSync();
    return { info: parseInfo(readAll(f)), held: !free };
  } finally {
    f.close();
  }
}
