import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ANALYSIS_FORMAT_VERSION,
  deserializeAnalysis,
  readAnalysisFile,
  serializeAnalysis,
  writeAnalysisFile,
} from '../../../src/audio/analysis-cache.js';
import { ANALYZER_VERSION, DB_FLOOR, PcmAnalyzer, type PcmAnalysis } from '../../../src/audio/analysis.js';

/** A real analysis: 1.3 s of 44.1 kHz stereo, a quiet tone, a stretch of digital silence, then an overdriven tone that clips. */
function measuredAnalysis(): PcmAnalysis {
  const sampleRate = 44100;
  const frames = Math.round(1.3 * sampleRate);
  const samples = new Int16Array(2 * frames);
  for (let i = 0; i < frames; i++) {
    const t = i / sampleRate;
    const amplitude = t < 0.5 ? 300 : t < 0.8 ? 0 : 40000;
    const value = Math.max(-32768, Math.min(32767, Math.round(amplitude * Math.sin(2 * Math.PI * 440 * t))));
    samples[2 * i] = value;
    samples[2 * i + 1] = value >> 1;
  }
  const analyzer = new PcmAnalyzer({ sampleRate, channels: 2 });
  analyzer.push(new Uint8Array(samples.buffer));
  return analyzer.finish();
}

/** Awkward values: float32 extremes and a saturated clip count, with scalars that have no short decimal form. */
function edgeAnalysis(): PcmAnalysis {
  return {
    sampleRate: 22050,
    channels: 3,
    hopSec: 221 / 22050,
    hopSamples: 221,
    totalFrames: 1105,
    durationSec: 1105 / 22050,
    frameCount: 6,
    // −0, the smallest subnormal and the largest float32, and two values that float32 rounds.
    rmsDb: Float32Array.of(DB_FLOOR, -0, 1.401298464324817e-45, 3.4028234663852886e38, Math.fround(-3.0102999566398125), Math.fround(Math.PI)),
    clippedPerHop: Uint16Array.of(0, 0xffff, 1, 0x0102, 0, 7),
    clippedSamples: 65535 + 1 + 258 + 7,
    peakDbfs: 20 * Math.log10(12345 / 32768),
    integratedLufs: -23.456789012345678,
  };
}

/** Bytes of a typed array, for bit-exact comparison (toEqual on floats would let −0 equal 0). */
const bytesOf = (array: Float32Array | Uint16Array): Buffer => Buffer.from(array.buffer, array.byteOffset, array.byteLength);

function expectSameAnalysis(actual: PcmAnalysis | undefined, expected: PcmAnalysis): void {
  expect(actual).toBeDefined();
  const { rmsDb, clippedPerHop, ...scalars } = actual!;
  const { rmsDb: expectedRmsDb, clippedPerHop: expectedClipped, ...expectedScalars } = expected;
  expect(scalars).toEqual(expectedScalars);
  expect(rmsDb).toBeInstanceOf(Float32Array);
  expect(clippedPerHop).toBeInstanceOf(Uint16Array);
  expect(bytesOf(rmsDb)).toEqual(bytesOf(expectedRmsDb));
  expect(bytesOf(clippedPerHop)).toEqual(bytesOf(expectedClipped));
}

/** The header of a serialized analysis, and the offset where its padding starts. */
function readHeader(bytes: Buffer): { header: Record<string, unknown>; headerEnd: number } {
  const headerEnd = 12 + bytes.readUInt32LE(8);
  return { header: JSON.parse(bytes.toString('utf8', 12, headerEnd)) as Record<string, unknown>, headerEnd };
}

/** The same bytes with the header edited, the payload moved to the new aligned offset. */
function withHeader(bytes: Buffer, edit: (header: Record<string, unknown>) => void): Buffer {
  const { header, headerEnd } = readHeader(bytes);
  edit(header);
  const payload = bytes.subarray((headerEnd + 3) & ~3);
  const headerBytes = Buffer.from(JSON.stringify(header));
  const out = Buffer.alloc(((12 + headerBytes.length + 3) & ~3) + payload.length);
  bytes.copy(out, 0, 0, 8);
  out.writeUInt32LE(headerBytes.length, 8);
  headerBytes.copy(out, 12);
  payload.copy(out, out.length - payload.length);
  return out;
}

describe('serializeAnalysis / deserializeAnalysis', () => {
  const measured = measuredAnalysis();

  it('round-trips a measured analysis bit-exactly', () => {
    // The fixture covers what the format has to carry: clipping, a floored silence, a fractional loudness.
    expect(measured.clippedSamples).toBeGreaterThan(0);
    expect(Array.from(measured.rmsDb)).toContain(DB_FLOOR);
    expect(measured.frameCount).toBe(131);
    expectSameAnalysis(deserializeAnalysis(serializeAnalysis(measured)), measured);
  });

  it('round-trips float32 extremes, −0 and a saturated clip count', () => {
    const edge = edgeAnalysis();
    expectSameAnalysis(deserializeAnalysis(serializeAnalysis(edge)), edge);
  });

  it('round-trips an empty analysis', () => {
    const empty = new PcmAnalyzer({ sampleRate: 48000, channels: 1 }).finish();
    expectSameAnalysis(deserializeAnalysis(serializeAnalysis(empty)), empty);
  });

  it('writes the documented little-endian layout', () => {
    const edge = edgeAnalysis();
    const bytes = serializeAnalysis(edge);
    expect(bytes.toString('latin1', 0, 4)).toBe('VSAN');
    expect(bytes.readUInt32LE(4)).toBe(ANALYSIS_FORMAT_VERSION);
    const { header, headerEnd } = readHeader(bytes);
    expect(header).toEqual({
      analyzerVersion: ANALYZER_VERSION,
      sampleRate: 22050,
      channels: 3,
      hopSec: edge.hopSec,
      hopSamples: 221,
      totalFrames: 1105,
      durationSec: edge.durationSec,
      frameCount: 6,
      clippedSamples: 65801,
      peakDbfs: edge.peakDbfs,
      integratedLufs: -23.456789012345678,
      clippedHopCount: 6,
    });
    const rmsOffset = (headerEnd + 3) & ~3;
    expect(bytes.subarray(headerEnd, rmsOffset).every((byte) => byte === 0)).toBe(true);
    expect(bytes.readFloatLE(rmsOffset)).toBe(DB_FLOOR);
    expect(bytes.readFloatLE(rmsOffset + 4 * 5)).toBe(Math.fround(Math.PI));
    expect(bytes.readUInt16LE(rmsOffset + 4 * 6 + 2 * 3)).toBe(0x0102);
    expect(bytes.length).toBe(rmsOffset + 4 * 6 + 2 * 6);
  });

  it('returns undefined for every truncation and for trailing bytes', () => {
    const bytes = serializeAnalysis(edgeAnalysis());
    for (let length = 0; length < bytes.length; length++) expect(deserializeAnalysis(bytes.subarray(0, length))).toBeUndefined();
    expect(deserializeAnalysis(Buffer.concat([bytes, Buffer.of(0)]))).toBeUndefined();
  });

  it('returns undefined for a wrong magic, format version or analyzer version', () => {
    const bytes = serializeAnalysis(measured);
    const wrongMagic = Buffer.from(bytes);
    wrongMagic.write('RIFF', 0, 'latin1');
    expect(deserializeAnalysis(wrongMagic)).toBeUndefined();
    const nextFormat = Buffer.from(bytes);
    nextFormat.writeUInt32LE(ANALYSIS_FORMAT_VERSION + 1, 4);
    expect(deserializeAnalysis(nextFormat)).toBeUndefined();
    expect(deserializeAnalysis(withHeader(bytes, (header) => (header.analyzerVersion = ANALYZER_VERSION - 1)))).toBeUndefined();
    // The helper itself keeps a valid file valid.
    expectSameAnalysis(deserializeAnalysis(withHeader(bytes, () => {})), measured);
  });

  it('returns undefined for a garbled header', () => {
    const bytes = serializeAnalysis(measured);
    const brokenJson = Buffer.from(bytes);
    brokenJson.write('#', 12, 'latin1');
    expect(deserializeAnalysis(brokenJson)).toBeUndefined();
    const hugeHeaderLength = Buffer.from(bytes);
    hugeHeaderLength.writeUInt32LE(0xffffffff, 8);
    expect(deserializeAnalysis(hugeHeaderLength)).toBeUndefined();
    const edits: Array<(header: Record<string, unknown>) => void> = [
      (header) => (header.frameCount = (header.frameCount as number) + 1), // sizes no longer add up
      (header) => (header.clippedHopCount = (header.clippedHopCount as number) - 1),
      (header) => (header.frameCount = '131'),
      (header) => (header.sampleRate = 44100.5),
      (header) => (header.totalFrames = -1),
      (header) => (header.integratedLufs = null), // what JSON makes of NaN and Infinity
      (header) => delete header.peakDbfs,
    ];
    for (const edit of edits) expect(deserializeAnalysis(withHeader(bytes, edit))).toBeUndefined();
    expect(deserializeAnalysis(Buffer.from('VSAN'))).toBeUndefined();
  });

  it('refuses to serialize an analysis whose RMS map does not match its frame count', () => {
    expect(() => serializeAnalysis({ ...edgeAnalysis(), frameCount: 7 })).toThrow(RangeError);
  });
});

describe('writeAnalysisFile / readAnalysisFile', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'vs-analysis-cache-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('round-trips through a file, creating its directory and leaving no temp file', async () => {
    const file = path.join(dir, 'analysis', 'abc.vsan');
    const measured = measuredAnalysis();
    await writeAnalysisFile(file, measured);
    expectSameAnalysis(await readAnalysisFile(file), measured);
    const edge = edgeAnalysis();
    await writeAnalysisFile(file, edge); // replaces the file
    expectSameAnalysis(await readAnalysisFile(file), edge);
    expect(await readdir(path.dirname(file))).toEqual(['abc.vsan']);
  });

  it('reads a missing or invalid file as undefined', async () => {
    expect(await readAnalysisFile(path.join(dir, 'missing.vsan'))).toBeUndefined();
    const garbage = path.join(dir, 'garbage.vsan');
    await writeFile(garbage, 'not an analysis');
    expect(await readAnalysisFile(garbage)).toBeUndefined();
  });

  it('reports I/O errors other than a missing file', async () => {
    await expect(readAnalysisFile(dir)).rejects.toMatchObject({ code: 'EISDIR' });
  });
});
