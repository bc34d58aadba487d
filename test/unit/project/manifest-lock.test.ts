import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../src/errors.js';
import { manifestPath, workDir } from '../../../src/project/layout.js';
import { readManifest, updateManifest } from '../../../src/project/manifest.js';
import { DEFAULT_LOCK_TIMEOUT_MS, LOCK_FILE, LOCK_MAX_AGE_MS, type Clock } from '../../../src/project/manifest-lock.js';
import { appendJob, deadPid, fakeClock, rejection } from '../../helpers/manifests.js';

let projectDir: string;

beforeEach(async () => {
  projectDir = await mkdtemp(join(tmpdir(), 'voicestudio-manifest-'));
});

afterEach(async () => {
  await rm(projectDir, { recursive: true, force: true });
});

const lockPath = (): string => join(workDir(projectDir), LOCK_FILE);

async function writeLock(holder: { pid: number; hostname: string; startedAt: string }): Promise<string> {
  await mkdir(workDir(projectDir), { recursive: true });
  const text = JSON.stringify(holder);
  await writeFile(lockPath(), text);
  return text;
}

describe('manifest lock', () => {
  it('breaks a lock left by a process that no longer runs', async () => {
    await writeLock({ pid: deadPid(), hostname: hostname(), startedAt: new Date().toISOString() });
    const clock = fakeClock();
    const { manifest } = await updateManifest(projectDir, appendJob('after-crash'), { clock });
    expect(manifest.jobs).toStrictEqual([{ id: 'after-crash' }]);
    expect(clock.elapsedMs()).toBe(0);
    expect(await readdir(workDir(projectDir))).toStrictEqual([]);
  });

  it('lets only one of many waiting updaters break a dead lock, and loses none of their updates', async () => {
    await writeLock({ pid: deadPid(), hostname: hostname(), startedAt: new Date().toISOString() });
    const ids = Array.from({ length: 10 }, (_, i) => `job-${i}`);
    await Promise.all(ids.map((id) => updateManifest(projectDir, appendJob(id))));
    const manifest = await readManifest(projectDir);
    expect(manifest?.jobs.map((job) => job.id).sort()).toStrictEqual([...ids].sort());
    expect(await readdir(workDir(projectDir))).toStrictEqual([]);
  });

  it('clears the turn file of a breaker that died while breaking a dead lock', async () => {
    const dead = { pid: deadPid(), hostname: hostname(), startedAt: new Date().toISOString() };
    await writeLock(dead);
    await writeFile(`${lockPath()}.break`, JSON.stringify(dead));
    const { manifest } = await updateManifest(projectDir, appendJob('x'), { clock: fakeClock() });
    expect(manifest.jobs).toHaveLength(1);
    expect(await readdir(workDir(projectDir))).toStrictEqual([]);
  });

  it('breaks a lock older than the maximum age even if its holder cannot be checked', async () => {
    const startedAt = new Date(Date.now() - LOCK_MAX_AGE_MS - 1000).toISOString();
    await writeLock({ pid: 4242, hostname: 'some-other-host', startedAt });
    const { manifest } = await updateManifest(projectDir, appendJob('x'), { clock: fakeClock() });
    expect(manifest.jobs).toHaveLength(1);
  });

  it('breaks an old lock file that never got its holder written', async () => {
    await mkdir(workDir(projectDir), { recursive: true });
    await writeFile(lockPath(), '');
    const anHourAgo = new Date(Date.now() - 3_600_000);
    await utimes(lockPath(), anHourAgo, anHourAgo);
    const { manifest } = await updateManifest(projectDir, appendJob('x'), { clock: fakeClock() });
    expect(manifest.jobs).toHaveLength(1);
  });

  it('waits the default 10 s for a live holder, then names it in ManifestLocked', async () => {
    const lockText = await writeLock({ pid: process.ppid, hostname: hostname(), startedAt: new Date().toISOString() });
    const clock = fakeClock();
    let called = false;
    const error = await rejection(
      updateManifest(
        projectDir,
        () => {
          called = true;
        },
        { clock },
      ),
    );
    expect(DEFAULT_LOCK_TIMEOUT_MS).toBe(10_000);
    expect(clock.elapsedMs()).toBeGreaterThanOrEqual(DEFAULT_LOCK_TIMEOUT_MS);
    expect(clock.elapsedMs()).toBeLessThan(DEFAULT_LOCK_TIMEOUT_MS + 1);
    expect(error.code).toBe(ErrorCode.ManifestLocked);
    expect(error.message).toContain(manifestPath(projectDir));
    expect(error.message).toContain(`process ${process.ppid} on host ${hostname()}`);
    expect(error.suggestion).toContain(lockPath());
    expect(called).toBe(false);
    expect(await readFile(lockPath(), 'utf8')).toBe(lockText);
    expect(existsSync(manifestPath(projectDir))).toBe(false);
  });

  it('does not break a recent lock held on another host, and honours timeoutMs', async () => {
    await writeLock({ pid: 4242, hostname: 'some-other-host', startedAt: new Date().toISOString() });
    const clock = fakeClock();
    const error = await rejection(updateManifest(projectDir, appendJob('x'), { clock, timeoutMs: 300 }));
    expect(error.code).toBe(ErrorCode.ManifestLocked);
    expect(error.message).toContain('process 4242 on host some-other-host');
    expect(clock.elapsedMs()).toBeGreaterThanOrEqual(300);
    expect(clock.elapsedMs()).toBeLessThan(301);
  });

  it('takes the lock as soon as the holder releases it', async () => {
    await writeLock({ pid: process.ppid, hostname: hostname(), startedAt: new Date().toISOString() });
    // The holder lets go while the update waits for it (its first pause), not after some real time.
    let pauses = 0;
    const clock: Clock = {
      now: () => Date.now(),
      sleep: async () => {
        if (++pauses === 1) await rm(lockPath());
      },
    };
    const { manifest } = await updateManifest(projectDir, appendJob('waited'), { clock });
    expect(pauses).toBe(1);
    expect(manifest.jobs).toStrictEqual([{ id: 'waited' }]);
  });

  it('stops waiting when the signal aborts', async () => {
    await writeLock({ pid: process.ppid, hostname: hostname(), startedAt: new Date().toISOString() });
    const controller = new AbortController();
    // The abort lands while the update waits out a pause far longer than the test may run: only the signal ends it.
    const clock: Clock = {
      now: () => Date.now(),
      sleep: (_ms, signal) => {
        const pausing = delay(60 * 60_000, undefined, signal === undefined ? {} : { signal });
        controller.abort();
        return pausing;
      },
    };
    await expect(updateManifest(projectDir, appendJob('x'), { signal: controller.signal, clock })).rejects.toMatchObject({ name: 'AbortError' });
    expect((await stat(lockPath())).isFile()).toBe(true);
  });
});
