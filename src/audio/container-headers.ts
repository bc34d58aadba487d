/**
 * The places where a container header has to be read or written by hand because FFmpeg cannot: a truncated
 * WAV (FFmpeg estimates its duration from the file size, hiding the truncation), whether an MP3's duration is
 * declared by a Xing/Info/VBRI header or only estimated from its bitrate (ffprobe reports both alike), and FLAC
 * files written by the segment muxer (their STREAMINFO lacks each clip's own sample count).
 */
import { open } from 'node:fs/promises';

const RIFF_SCAN_BYTES = 1 << 16;

/**
 * The duration a RIFF/WAVE file's `data` chunk declares, or undefined when the file is not a plain WAV
 * or declares no usable size (RF64, streaming writers' 0 or 0xFFFFFFFF placeholders).
 */
export async function declaredWavDurationSec(file: string): Promise<number | undefined> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(RIFF_SCAN_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, RIFF_SCAN_BYTES, 0);
    if (bytesRead < 12 || buffer.toString('latin1', 0, 4) !== 'RIFF' || buffer.toString('latin1', 8, 12) !== 'WAVE') return undefined;
    let byteRate: number | undefined;
    for (let offset = 12; offset + 8 <= bytesRead; ) {
      const id = buffer.toString('latin1', offset, offset + 4);
      const size = buffer.readUInt32LE(offset + 4);
      if (id === 'fmt ' && offset + 16 <= bytesRead) byteRate = buffer.readUInt32LE(offset + 16);
      if (id === 'data') {
        if (byteRate === undefined || byteRate === 0 || size === 0 || size === 0xffffffff) return undefined;
        return size / byteRate;
      }
      offset += 8 + size + (size % 2); // chunks are word-aligned
    }
    return undefined;
  } finally {
    await handle.close();
  }
}

/** How far past the ID3v2 tag the first MPEG audio frame is looked for. */
const MP3_SCAN_BYTES = 1 << 16;
const MPEG_SAMPLE_RATES: Record<number, readonly number[]> = { 3: [44100, 48000, 32000], 2: [22050, 24000, 16000], 0: [11025, 12000, 8000] };

interface MpegFrame {
  sampleRate: number;
  samplesPerFrame: number;
  /** Where a Xing/Info header starts in a Layer III frame: after the 4-byte header and the side information. */
  xingOffset: number;
}

/** The MPEG audio frame header at `offset`, or undefined when those bytes are not one. */
function mpegFrameAt(buffer: Buffer, offset: number): MpegFrame | undefined {
  const [b0, b1, b2, b3] = [buffer[offset]!, buffer[offset + 1]!, buffer[offset + 2]!, buffer[offset + 3]!];
  if (b0 !== 0xff || (b1 & 0xe0) !== 0xe0) return undefined;
  const version = (b1 >> 3) & 3; // 3 MPEG-1, 2 MPEG-2, 0 MPEG-2.5, 1 reserved
  const layer = (b1 >> 1) & 3; // 1 Layer III, 2 Layer II, 3 Layer I
  const bitrateIndex = b2 >> 4;
  const sampleRate = MPEG_SAMPLE_RATES[version]?.[(b2 >> 2) & 3];
  if (layer === 0 || bitrateIndex === 0 || bitrateIndex === 15 || sampleRate === undefined) return undefined;
  const mpeg1 = version === 3;
  const mono = b3 >> 6 === 3;
  const samplesPerFrame = layer === 3 ? 384 : layer === 2 || mpeg1 ? 1152 : 576;
  return { sampleRate, samplesPerFrame, xingOffset: 4 + (mpeg1 ? (mono ? 17 : 32) : mono ? 9 : 17) };
}

/**
 * The duration an MP3's first frame declares in a Xing/Info (LAME) or VBRI header, from its frame count; undefined
 * when it has none (then only an estimate from the bitrate and the file size exists) or is not MPEG audio.
 */
export async function declaredMp3DurationSec(file: string): Promise<number | undefined> {
  const handle = await open(file, 'r');
  try {
    const id3 = Buffer.alloc(10);
    await handle.read(id3, 0, id3.length, 0);
    let start = 0;
    if (id3.toString('latin1', 0, 3) === 'ID3') {
      // The tag size is "syncsafe": 7 bits per byte. A footer (flag 0x10) adds 10 bytes.
      const size = ((id3[6]! & 0x7f) << 21) | ((id3[7]! & 0x7f) << 14) | ((id3[8]! & 0x7f) << 7) | (id3[9]! & 0x7f);
      start = 10 + size + ((id3[5]! & 0x10) === 0 ? 0 : 10);
    }
    const buffer = Buffer.alloc(MP3_SCAN_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, start);
    for (let offset = 0; offset + 4 <= bytesRead; offset++) {
      const frame = mpegFrameAt(buffer, offset);
      if (frame === undefined) continue;
      const frames = declaredFrameCount(buffer.subarray(offset, bytesRead), frame);
      return frames === undefined ? undefined : (frames * frame.samplesPerFrame) / frame.sampleRate;
    }
    return undefined;
  } finally {
    await handle.close();
  }
}

/** The frame count of the Xing/Info header (when its frames flag is set) or VBRI header in `frame`. */
function declaredFrameCount(frame: Buffer, header: MpegFrame): number | undefined {
  const tag = (at: number): string => (at + 4 <= frame.length ? frame.toString('latin1', at, at + 4) : '');
  const xing = header.xingOffset;
  if ((tag(xing) === 'Xing' || tag(xing) === 'Info') && xing + 12 <= frame.length) {
    return (frame.readUInt32BE(xing + 4) & 1) === 1 ? frame.readUInt32BE(xing + 8) : undefined;
  }
  const vbri = 4 + 32;
  if (tag(vbri) === 'VBRI' && vbri + 18 <= frame.length) return frame.readUInt32BE(vbri + 14);
  return undefined;
}

/** "fLaC", then the STREAMINFO block header; the block's body starts here. */
const STREAMINFO_OFFSET = 8;
/** Within STREAMINFO: 36-bit total samples start in the low nibble of byte 13; MD5 is bytes 18–33. */
const TOTAL_SAMPLES_BYTE = 13;
const MD5_BYTE = 18;

/**
 * Writes a FLAC file's true sample count into STREAMINFO and clears its MD5 (which the segment muxer
 * copies from the whole stream): readers then see the clip's real duration, and no wrong checksum.
 */
export async function setFlacTotalSamples(file: string, totalSamples: number): Promise<void> {
  const handle = await open(file, 'r+');
  try {
    const header = Buffer.alloc(STREAMINFO_OFFSET + 34);
    await handle.read(header, 0, header.length, 0);
    if (header.toString('latin1', 0, 4) !== 'fLaC' || (header[4]! & 0x7f) !== 0) throw new Error(`${file} does not start with a FLAC STREAMINFO block`);
    const info = header.subarray(STREAMINFO_OFFSET);
    const high = Math.floor(totalSamples / 2 ** 32);
    info[TOTAL_SAMPLES_BYTE] = (info[TOTAL_SAMPLES_BYTE]! & 0xf0) | (high & 0x0f);
    info.writeUInt32BE(totalSamples >>> 0, TOTAL_SAMPLES_BYTE + 1);
    info.fill(0, MD5_BYTE, MD5_BYTE + 16);
    await handle.write(info, 0, info.length, STREAMINFO_OFFSET);
  } finally {
    await handle.close();
  }
}
