/** Manifests of each version, and the clocks and error catchers the manifest tests share. */
import { spawnSync } from 'node:child_process';
import { expect } from 'vitest';
import { VoicestudioError } from '../../src/errors.js';
import type { Clock } from '../../src/project/manifest-lock.js';
import type { Manifest } from '../../src/project/types.js';

export const SHA = 'ab'.repeat(32);

/** A current-version manifest with every field set, opaque model and job fields included. */
export function fullManifest(): Manifest {
  return {
    version: 4,
    createdAt: '2024-05-01T10:00:00.000Z',
    updatedAt: '2024-05-02T11:00:00.000Z',
    sources: [
      {
        id: SHA.slice(0, 12),
        sha256: SHA,
        path: 'takes/verse.wav',
        aliases: ['takes/verse copy.wav'],
        kind: 'singing',
        durationSec: 42.5,
        sampleRate: 48000,
        channels: 2,
        codec: 'pcm_s16le',
        streamIndex: 0,
        workingFile: '.voicestudio/sources/abababababab.flac',
        sizeBytes: 8_160_044,
        ingestedAt: '2024-05-01T10:00:00.000Z',
        excluded: { excludedAt: '2024-05-03T09:00:00.000Z', reason: 'guest singer' },
        excludedClips: [
          { excludedAt: '2024-05-03T09:00:00.000Z', clipId: 'abababababab-0000', startSec: 0, endSec: 9.5 },
          { excludedAt: '2024-05-04T09:00:00.000Z', reason: 'not the singer', clipId: 'abababababab-0001', startSec: 9.5, endSec: 20, screen: { similarity: 0.52, threshold: 0.75 } },
        ],
      },
    ],
    segments: [
      {
        id: 'abababababab-0000',
        sourceId: 'abababababab',
        file: '.voicestudio/clips/abababababab-0000.wav',
        startSec: 0,
        endSec: 9.5,
      },
    ],
    preprocess: {
      settings: { sampleRate: 40000, denoise: true, highpassHz: 80, targetLufs: -20, minClipSec: 5, maxClipSec: 15, silenceThresholdDb: 'auto', minSilenceMs: 300, holdout: true },
      records: [
        {
          sourceId: 'abababababab',
          key: 'k1',
          segmentIds: ['abababababab-0000'],
          report: {
            sourceId: 'abababababab',
            path: 'takes/verse.wav',
            kind: 'singing',
            durationSec: 42.5,
            keptSec: 9.5,
            droppedSec: 33,
            soundSec: 12,
            keptSoundSec: 9.5,
            lostSoundSec: { too_short: 0, silence: 2.5, clipping: 0 },
            silenceThresholdDb: -40,
            keptWhole: false,
            clips: {
              count: 1,
              minSec: 9.5,
              medianSec: 9.5,
              maxSec: 9.5,
              histogram: [{ fromSec: 9, toSec: 11, count: 1 }],
            },
            dropped: [{ startSec: 9.5, endSec: 42.5, reason: 'silence', detail: '33 s below -60 dBFS', soundSec: 2.5 }],
            clippedShare: 0.001,
            peakDbfs: -0.3,
            noiseFloorDbfs: -72,
            snrDb: 48,
            loudnessLufs: -18.2,
            warnings: [
              { code: 'short', scope: 'abababababab', message: 'Little audio kept.', suggestion: 'Add more takes.' },
            ],
          },
          processedAt: '2024-05-02T11:00:00.000Z',
        },
      ],
      heldOut: ['abababababab-0000'],
    },
    models: [{ name: 'alto', version: 2, epochs: 200, files: { index: 'm.index' } }],
    jobs: [{ id: 'job-1', kind: 'train', status: 'done' }],
  };
}

/** The earliest prototype's manifest: no version, segments, preprocess, models or jobs; no aliases/streamIndex. */
export function v0Manifest(): Record<string, unknown> {
  const { aliases: _aliases, streamIndex: _streamIndex, excluded: _excluded, excludedClips: _excludedClips, ...source } = fullManifest().sources[0]!;
  return { createdAt: '2023-01-01T00:00:00.000Z', updatedAt: '2023-01-02T00:00:00.000Z', sources: [source] };
}

/** fullManifest's source as it migrates from before exclusions existed: included, no clip excluded. */
export function v1Source(): Manifest['sources'][number] {
  const { excluded: _excluded, ...source } = fullManifest().sources[0]!;
  return { ...source, excludedClips: [] };
}

/** Version 1: sources without exclusions. */
export function v1Manifest(): Record<string, unknown> {
  const manifest = fullManifest();
  const { excluded: _excluded, excludedClips: _excludedClips, ...source } = manifest.sources[0]!;
  return { ...manifest, version: 1, sources: [source] };
}


/** Version 2: no clips held out for audition, no holdout setting. */
export function v2Manifest(): Record<string, unknown> {
  const manifest = fullManifest();
  const { heldOut: _heldOut, settings, ...preprocess } = manifest.preprocess;
  const { holdout: _holdout, ...v2Settings } = settings!;
  return { ...manifest, version: 2, preprocess: { ...preprocess, settings: v2Settings } };
}

/** Version 3: no exclusion is the speaker screen's. */
export function v3Manifest(): Record<string, unknown> {
  const manifest = fullManifest();
  const [source] = manifest.sources;
  return { ...manifest, version: 3, sources: [{ ...source!, excludedClips: source!.excludedClips.filter((c) => c.screen === undefined) }] };
}

/** A clock whose sleep only advances time, so lock waits take no real time. */
export function fakeClock(start = Date.now()): Clock & { elapsedMs(): number } {
  let now = start;
  return {
    now: () => now,
    sleep: async (ms) => {
      now += ms;
    },
    elapsedMs: () => now - start,
  };
}

export async function rejection(promise: Promise<unknown>): Promise<VoicestudioError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(VoicestudioError);
  return error as VoicestudioError;
}

export function thrownBy(action: () => unknown): VoicestudioError {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(VoicestudioError);
    return error as VoicestudioError;
  }
  throw new Error('expected an error');
}

/** The pid of a process that has ended. */
export function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '']);
  if (child.pid === undefined) throw new Error('could not start a child process');
  return child.pid;
}

export const appendJob = (id: string) => (manifest: Manifest) => {
  manifest.jobs.push({ id });
};

