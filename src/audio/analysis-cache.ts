/**
 * A compact binary form of PcmAnalysis, so ingest can analyse a source once and preprocess reload the figures (an hour of
 * audio is ~360k frames: as JSON that would be megabytes of slow-to-parse text).
 *
 * Layout, all little-endian:
 *   "VSAN"                      4 bytes, ASCII magic
 *   format version              u32 (ANALYSIS_FORMAT_VERSION)
 *   header length N             u32
 *   header                      N bytes of UTF-8 JSON: the scalar fields of PcmAnalysis, analyzerVersion, clippedHopCount
 *   zero padding                to a 4-byte boundary
 *   rmsDb                       frameCount × float32
 *   clippedPerHop               clippedHopCount × uint16
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { ANALYZER_VERSION, type PcmAnalysis } from './analysis.js';
import { writeAtomically } from '../util/files.js';

/** Bump when the layout above changes. */
export const ANALYSIS_FORMAT_VERSION = 1;

const MAGIC = 'VSAN';
/** Magic, format version, header length. */
const PREAMBLE_BYTES = 12;

/** Header fields that count things: non-negative integers. */
const COUNT_FIELDS = [
  'analyzerVersion',
  'sampleRate',
  'channels',
  'hopSamples',
  'totalFrames',
  'frameCount',
  'clippedSamples',
  'clippedHopCount',
] as const;
/** Header fields that are measurements: finite numbers. */
const MEASURE_FIELDS = ['hopSec', 'durationSec', 'peakDbfs', 'integratedLufs'] as const;

type AnalysisHeader = Record<(typeof COUNT_FIELDS)[number] | (typeof MEASURE_FIELDS)[number], number>;

function isAnalysisHeader(value: unknown): value is AnalysisHeader {
  if (typeof value !== 'object' || value === null) return false;
  const fields = value as Record<string, unknown>;
  return (
    COUNT_FIELDS.every((name) => Number.isSafeInteger(fields[name]) && (fields[name] as number) >= 0) &&
    MEASURE_FIELDS.every((name) => Number.isFinite(fields[name]))
  );
}

const alignTo4 = (offset: number): number => (offset + 3) & ~3;

/**
 * The analysis in the layout above. The arrays go through a DataView with explicit little-endian access, so the bytes are
 * the same on any host; that costs about a millisecond per hour of audio over a raw copy on little-endian hosts.
 */
export function serializeAnalysis(analysis: PcmAnalysis): Buffer {
  const { rmsDb, clippedPerHop } = analysis;
  if (rmsDb.length !== analysis.frameCount) {
    throw new RangeError(`rmsDb has ${rmsDb.length} values for ${analysis.frameCount} frames`);
  }
  const header: AnalysisHeader = {
    analyzerVersion: ANALYZER_VERSION,
    sampleRate: analysis.sampleRate,
    channels: analysis.channels,
    hopSec: analysis.hopSec,
    hopSamples: analysis.hopSamples,
    totalFrames: analysis.totalFrames,
    durationSec: analysis.durationSec,
    frameCount: analysis.frameCount,
    clippedSamples: analysis.clippedSamples,
    peakDbfs: analysis.peakDbfs,
    integratedLufs: analysis.integratedLufs,
    clippedHopCount: clippedPerHop.length,
  };
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const rmsOffset = alignTo4(PREAMBLE_BYTES + headerBytes.length);
  const clippedOffset = rmsOffset + 4 * rmsDb.length;
  // Buffer.alloc zero-fills, which gives the padding.
  const bytes = Buffer.alloc(clippedOffset + 2 * clippedPerHop.length);
  bytes.write(MAGIC, 0, 'latin1');
  bytes.writeUInt32LE(ANALYSIS_FORMAT_VERSION, 4);
  bytes.writeUInt32LE(headerBytes.length, 8);
  headerBytes.copy(bytes, PREAMBLE_BYTES);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  for (let i = 0; i < rmsDb.length; i++) view.setFloat32(rmsOffset + 4 * i, rmsDb[i]!, true);
  for (let i = 0; i < clippedPerHop.length; i++) view.setUint16(clippedOffset + 2 * i, clippedPerHop[i]!, true);
  return bytes;
}

/**
 * The analysis serializeAnalysis wrote, or undefined when the bytes are not one of this format and analyzer version, or
 * are truncated or garbled: the caller then analyses again. The arrays are copies, not views of `bytes`.
 */
export function deserializeAnalysis(bytes: Buffer): PcmAnalysis | undefined {
  if (bytes.length < PREAMBLE_BYTES || bytes.toString('latin1', 0, MAGIC.length) !== MAGIC) return undefined;
  if (bytes.readUInt32LE(4) !== ANALYSIS_FORMAT_VERSION) return undefined;
  const headerEnd = PREAMBLE_BYTES + bytes.readUInt32LE(8);
  if (headerEnd > bytes.length) return undefined;
  let header: unknown;
  try {
    header = JSON.parse(bytes.toString('utf8', PREAMBLE_BYTES, headerEnd));
  } catch {
    return undefined;
  }
  if (!isAnalysisHeader(header) || header.analyzerVersion !== ANALYZER_VERSION) return undefined;
  const { frameCount, clippedHopCount } = header;
  const rmsOffset = alignTo4(headerEnd);
  const clippedOffset = rmsOffset + 4 * frameCount;
  if (bytes.length !== clippedOffset + 2 * clippedHopCount) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const rmsDb = new Float32Array(frameCount);
  for (let i = 0; i < frameCount; i++) rmsDb[i] = view.getFloat32(rmsOffset + 4 * i, true);
  const clippedPerHop = new Uint16Array(clippedHopCount);
  for (let i = 0; i < clippedHopCount; i++) clippedPerHop[i] = view.getUint16(clippedOffset + 2 * i, true);
  return {
    sampleRate: header.sampleRate,
    channels: header.channels,
    hopSec: header.hopSec,
    hopSamples: header.hopSamples,
    totalFrames: header.totalFrames,
    durationSec: header.durationSec,
    frameCount,
    rmsDb,
    clippedPerHop,
    clippedSamples: header.clippedSamples,
    peakDbfs: header.peakDbfs,
    integratedLufs: header.integratedLufs,
  };
}

/** Writes the analysis atomically (a temp sibling renamed into place), creating the directory if needed. */
export async function writeAnalysisFile(file: string, analysis: PcmAnalysis): Promise<void> {
  const bytes = serializeAnalysis(analysis);
  await mkdir(path.dirname(file), { recursive: true });
  await writeAtomically(file, bytes);
}

/** The analysis saved in `file`; undefined when there is none or it is stale or unreadable as an analysis. */
export async function readAnalysisFile(file: string): Promise<PcmAnalysis | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    // Only a missing file means "not analysed yet"; other I/O errors (permissions, a directory) are real problems.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return deserializeAnalysis(bytes);
}
