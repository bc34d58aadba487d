// train and convert through bin/voicestudio against the RunPod emulator (test/emulator/runpod-emulator.ts, which runs
// the real gpu/handler.py with the Applio stand-in). Two figures:
//  - bytes sent per minute of audio, for train and for convert, against the earlier prototype's naive approach
//    (the whole file as base64-encoded WAV in the request body);
//  - completion-notice latency: from the emulator marking a conversion COMPLETED to the CLI's next /status for it
//    (target: about 1 s or less).
import { link, copyFile, mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bin, cachedPhrasesWav, median, run, verdict, emulatorEnv } from './common.mjs';

const TRAIN_SOURCES = [
  { name: 'verse.wav', seconds: 120, options: { phraseSec: 8, pauseSec: 1.2, frequency: 220 } },
  { name: 'chorus.wav', seconds: 120, options: { phraseSec: 9, pauseSec: 1, frequency: 330 } },
];
const GUIDE = { name: 'guide.wav', seconds: 180, options: { phraseSec: 6, pauseSec: 1.5, frequency: 262 } };
/** Distinct --pitch values: none of the conversions is served from the cache. */
const PITCHES = [1, 2, 3, 4, 5];
/** "About 1 s or less": the short-job poll interval is capped at 1 s, plus a request's round trip. */
const NOTICE_TARGET_SEC = 1.1;

const MB = 1e6;
const base64Bytes = (bytes) => 4 * Math.ceil(bytes / 3);
const size = (bytes) => (Math.abs(bytes) >= MB ? `${(bytes / MB).toFixed(2)} MB` : `${(bytes / 1e3).toFixed(1)} kB`);
const sumBodies = (requests) => requests.reduce((sum, r) => sum + (r.route === 'run' ? r.bodyBytes : 0), 0);

async function linkOrCopy(from, to) {
  await link(from, to).catch(() => copyFile(from, to));
}

export async function benchRemote() {
  const { startEmulator } = await import(new URL('../test/emulator/runpod-emulator.ts', import.meta.url).href);
  const sources = await Promise.all(TRAIN_SOURCES.map(async (s) => ({ ...s, file: await cachedPhrasesWav(`remote-${s.name}`, s.seconds, s.options) })));
  const guideFile = await cachedPhrasesWav(`remote-${GUIDE.name}`, GUIDE.seconds, GUIDE.options);

  const dir = await mkdtemp(path.join(tmpdir(), 'vs-bench-'));
  const emulator = await startEmulator({ workers: 2 });
  try {
    const project = path.join(dir, 'vocals');
    await mkdir(project);
    for (const s of sources) await linkOrCopy(s.file, path.join(project, s.name));
    const guide = path.join(dir, GUIDE.name);
    await linkOrCopy(guideFile, guide);
    const env = emulatorEnv(emulator, path.join(dir, 'config'));
    /** Runs the CLI and returns its JSON result and the requests the emulator recorded meanwhile. */
    const cli = async (args) => {
      const first = emulator.requests.length;
      const { stdout } = await run(process.execPath, [bin, ...args, '--json'], { env });
      return { result: JSON.parse(stdout), requests: emulator.requests.slice(first) };
    };
    const taskOf = new Map();
    const jobTask = (id) => {
      if (!taskOf.has(id)) for (const job of emulator.jobs()) taskOf.set(job.id, job.input.task);
      return taskOf.get(id);
    };

    // ---- train: ingest + preprocess + dataset upload + training + model download, all through the CLI
    const trainStarted = performance.now();
    const train = await cli(['train', project, '--force', '--name', 'b', '--epochs', '2', '--save-every', '1']);
    const trainSec = (performance.now() - trainStarted) / 1000;
    const trainBytes = sumBodies(train.requests);
    const sourceMinutes = sources.reduce((sum, s) => sum + s.seconds, 0) / 60;
    const naiveTrainBytes = (await Promise.all(sources.map(async (s) => base64Bytes((await stat(s.file)).size)))).reduce((a, b) => a + b, 0);

    // ---- convert: distinct conversions of one guide; the first one uploads the model if the volume lacks it
    const conversions = [];
    for (const pitch of PITCHES) {
      const started = performance.now();
      const { result, requests } = await cli(['convert', guide, '-m', 'b', '-p', project, '-o', path.join(dir, `out-${pitch}.wav`), '--pitch', String(pitch)]);
      if (result.items?.[0]?.status !== 'converted') throw new Error(`convert --pitch ${pitch}: ${JSON.stringify(result.items)}`);
      const jobId = requests.find((r) => r.route === 'run' && r.jobId !== undefined && jobTask(r.jobId) === 'convert')?.jobId;
      const job = emulator.jobs().find((j) => j.id === jobId);
      if (job?.completedAt === undefined) throw new Error(`convert --pitch ${pitch}: the emulator recorded no completed convert job`);
      const noticed = requests.find((r) => r.route === 'status' && r.jobId === jobId && r.at >= job.completedAt);
      if (noticed === undefined) throw new Error(`convert --pitch ${pitch}: no /status request after the job completed`);
      conversions.push({ pitch, bytes: sumBodies(requests), noticeMs: noticed.at - job.completedAt, gpuSec: (job.executionMs ?? 0) / 1000, wallSec: (performance.now() - started) / 1000 });
    }
    // Later conversions find the model on the volume: what the first one sent beyond them is the model upload.
    const perConversionBytes = median(conversions.slice(1).map((c) => c.bytes));
    const modelUploadBytes = conversions[0].bytes - perConversionBytes;
    const modelDir = path.join(project, 'models', 'b', 'v1');
    const modelFileBytes = (await stat(path.join(modelDir, 'b.pth'))).size + ((await stat(path.join(modelDir, 'b.index')).catch(() => undefined))?.size ?? 0);
    const guideMinutes = GUIDE.seconds / 60;
    const naiveConvertBytes = base64Bytes((await stat(guideFile)).size);

    const line = (label, minutes, bytes, naive) => {
      const ours = bytes / MB / minutes;
      const theirs = naive / MB / minutes;
      return `  ${label} voicestudio ${ours.toFixed(2).padStart(5)} MB/min   naive ${theirs.toFixed(2)} MB/min   ratio ${(ours / theirs).toFixed(3)} (1/${(theirs / ours).toFixed(1)})`;
    };
    console.log('');
    console.log('bytes sent per minute of audio (request bodies the RunPod emulator received; naive = each whole 44.1 kHz stereo WAV as base64)');
    console.log(line(`train   (${sourceMinutes.toFixed(0)} min of sources)`, sourceMinutes, trainBytes, naiveTrainBytes));
    console.log(line(`convert (${guideMinutes.toFixed(0)} min guide)     `, guideMinutes, perConversionBytes, naiveConvertBytes));
    console.log(`  train: ${size(trainBytes)} in ${train.requests.filter((r) => r.route === 'run').length} /run requests (dataset ${size(train.result.dataset.bytes)} of ${train.result.dataset.clips} FLAC clips), ${trainSec.toFixed(1)} s end to end`);
    console.log(`  convert: ${size(perConversionBytes)} per conversion (${conversions.map((c) => c.wallSec.toFixed(1)).join(' ')} s end to end)`);
    console.log(
      modelUploadBytes > 0
        ? `  model upload, once per model, not counted above: ${size(modelUploadBytes)} (pth + index ${size(modelFileBytes)})`
        : `  model upload: none (the model was trained on this endpoint, so its ${size(modelFileBytes)} pth + index are already on the volume)`,
    );

    const notices = conversions.map((c) => c.noticeMs / 1000);
    const worst = Math.max(...notices);
    console.log('');
    console.log(`completion notice latency (emulator COMPLETED → the CLI's next /status), ${conversions.length} conversions of a ${guideMinutes.toFixed(0)}-min guide`);
    console.log(`  each        ${notices.map((s) => s.toFixed(2)).join(' ')} s (the jobs ran ${conversions.map((c) => c.gpuSec.toFixed(1)).join(' ')} s)`);
    console.log(`  median      ${median(notices).toFixed(2)} s`);
    console.log(`  max         ${worst.toFixed(2)} s (target about 1 s or less: ≤ ${NOTICE_TARGET_SEC} s) ${verdict(worst <= NOTICE_TARGET_SEC)}`);
  } finally {
    await emulator.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
