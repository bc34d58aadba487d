/**
 * The cross-process lock that serialises manifest writes: a lock file in WORK_DIR, created exclusively, naming its
 * holder. A lock whose holder died, or that is older than anyone's read-modify-write, is broken; breakers take turns so
 * a live lock is never removed.
 */
import { open, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { ErrorCode, VoicestudioError } from '../errors.js';
import { isProcessAlive } from '../util/files.js';
import { manifestPath, workDir } from './layout.js';

/** Lock file, inside WORK_DIR. */
export const LOCK_FILE = 'manifest.lock';
export const DEFAULT_LOCK_TIMEOUT_MS = 10_000;
/** The lock only covers a short read-modify-write, so a lock this old is abandoned whoever holds it. */
export const LOCK_MAX_AGE_MS = 10 * 60_000;
/** A lock file without readable holder info is mid-creation for microseconds; older than this it is debris. */
const UNREADABLE_LOCK_MAX_AGE_MS = 10_000;
const MAX_BACKOFF_MS = 50;
/** Suffix of the file that lets one stale-lock breaker at a time have its turn. */
const BREAKER_SUFFIX = '.break';

/** Time source and sleep used while waiting for the lock; tests pass a fake one. */
export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) => delay(ms, undefined, { signal }),
};

export interface LockOptions {
  /** How long to wait for another process's lock before giving up (default 10 s). */
  timeoutMs?: number;
  /** Aborts waiting for the lock; once the lock is held the work runs to completion. */
  signal?: AbortSignal;
  /** The system clock unless a test passes one. */
  clock?: Clock;
}

/** Runs `work` holding the project's manifest lock (WORK_DIR must exist), and releases the lock after it. */
export async function withManifestLock<T>(projectDir: string, options: LockOptions, work: () => Promise<T>): Promise<T> {
  const lockFile = join(workDir(projectDir), LOCK_FILE);
  const lock = await acquireLock(lockFile, manifestPath(projectDir), options.clock ?? systemClock, options);
  try {
    return await work();
  } finally {
    // If our lock was broken as abandoned, the file there now is someone else's: leave it.
    await removeLockIfUnchanged(lockFile, lock);
  }
}

interface LockHolder {
  pid: number;
  hostname: string;
  startedAt: string;
}

/** One look at a lock file. `identity` (device and inode) plus `text` tell two lock files apart. */
interface ObservedLock {
  identity: string;
  text: string;
  mtimeMs: number;
  holder: LockHolder | undefined;
}

async function acquireLock(lockFile: string, manifestFile: string, clock: Clock, options: LockOptions): Promise<ObservedLock> {
  const deadline = clock.now() + (options.timeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS);
  for (let attempt = 0; ; attempt++) {
    options.signal?.throwIfAborted();
    const mine = await tryCreateLock(lockFile, clock.now());
    if (mine !== undefined) return mine;
    const current = await observeLock(lockFile);
    if (current === undefined) continue; // released between our two looks
    if (isStale(current, clock.now()) && (await breakStaleLock(lockFile, current, clock.now()))) continue;
    const remainingMs = deadline - clock.now();
    if (remainingMs <= 0) throw lockedError(manifestFile, lockFile, current);
    await clock.sleep(Math.min(backoffMs(attempt), remainingMs), options.signal);
  }
}

/** 1, 2, 4 … 50 ms with jitter, so waiting processes do not retry in step. */
function backoffMs(attempt: number): number {
  return Math.min(2 ** attempt, MAX_BACKOFF_MS) * (0.5 + Math.random());
}

async function tryCreateLock(lockFile: string, now: number): Promise<ObservedLock | undefined> {
  const holder: LockHolder = { pid: process.pid, hostname: hostname(), startedAt: new Date(now).toISOString() };
  const text = JSON.stringify(holder);
  let handle;
  try {
    handle = await open(lockFile, 'wx');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
    throw error;
  }
  try {
    await handle.writeFile(text, 'utf8');
    const stats = await handle.stat({ bigint: true });
    return { identity: `${stats.dev}:${stats.ino}`, text, mtimeMs: Number(stats.mtimeMs), holder };
  } catch (error) {
    await rm(lockFile, { force: true }); // ours alone: created exclusively a moment ago
    throw error;
  } finally {
    await handle.close();
  }
}

async function observeLock(lockFile: string): Promise<ObservedLock | undefined> {
  let handle;
  try {
    handle = await open(lockFile, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    // Stat and read through one handle so the identity and the text belong to the same file.
    const stats = await handle.stat({ bigint: true });
    const text = await handle.readFile('utf8');
    return { identity: `${stats.dev}:${stats.ino}`, text, mtimeMs: Number(stats.mtimeMs), holder: parseHolder(text) };
  } finally {
    await handle.close();
  }
}

function parseHolder(text: string): LockHolder | undefined {
  try {
    const value: unknown = JSON.parse(text);
    if (value === null || typeof value !== 'object') return undefined;
    const { pid, hostname: host, startedAt } = value as Record<string, unknown>;
    const valid =
      Number.isInteger(pid) &&
      (pid as number) > 0 &&
      typeof host === 'string' &&
      typeof startedAt === 'string' &&
      !Number.isNaN(Date.parse(startedAt));
    return valid ? { pid: pid as number, hostname: host as string, startedAt: startedAt as string } : undefined;
  } catch {
    return undefined;
  }
}

function isStale(lock: ObservedLock, now: number): boolean {
  const { holder } = lock;
  if (holder === undefined) return now - lock.mtimeMs > UNREADABLE_LOCK_MAX_AGE_MS;
  if (holder.hostname === hostname() && !isProcessAlive(holder.pid)) return true;
  return now - Date.parse(holder.startedAt) > LOCK_MAX_AGE_MS;
}

/**
 * Remove a stale lock without ever removing a live one. A plain rename or unlink acts on whatever file
 * has the name by then, so a slow breaker could remove the lock a faster one had just taken. Breakers
 * therefore take turns through a second lock file and, holding it, remove the lock only if it is still
 * the very file judged stale. Returns false while another process has the turn.
 */
async function breakStaleLock(lockFile: string, stale: ObservedLock, now: number): Promise<boolean> {
  const turnFile = `${lockFile}${BREAKER_SUFFIX}`;
  const turn = await tryCreateLock(turnFile, now);
  if (turn === undefined) return removeAbandonedTurn(turnFile, now);
  try {
    await removeLockIfUnchanged(lockFile, stale);
  } finally {
    await removeLockIfUnchanged(turnFile, turn);
  }
  return true;
}

/** A breaker that died during its millisecond-long turn leaves the turn file behind; it is judged like a lock. */
async function removeAbandonedTurn(turnFile: string, now: number): Promise<boolean> {
  const other = await observeLock(turnFile);
  if (other === undefined) return true;
  if (!isStale(other, now)) return false;
  await removeLockIfUnchanged(turnFile, other);
  return true;
}

/** Remove the lock file only if it is still `expected`: ours at release, or the one judged stale. */
async function removeLockIfUnchanged(lockFile: string, expected: ObservedLock): Promise<void> {
  const current = await observeLock(lockFile);
  if (current !== undefined && isSameLock(current, expected)) await rm(lockFile, { force: true });
}

function isSameLock(a: ObservedLock, b: ObservedLock): boolean {
  return a.identity === b.identity && a.text === b.text;
}

function lockedError(manifestFile: string, lockFile: string, lock: ObservedLock): VoicestudioError {
  const { holder } = lock;
  const who =
    holder === undefined
      ? 'an unknown process'
      : `voicestudio process ${holder.pid} on host ${holder.hostname} (since ${holder.startedAt})`;
  return new VoicestudioError(ErrorCode.ManifestLocked, `${manifestFile} is locked by ${who}.`, {
    subject: manifestFile,
    suggestion:
      'Wait for that command to finish, then run this one again. ' +
      `If no voicestudio command is running, delete ${lockFile}.`,
  });
}
