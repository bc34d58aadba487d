/**
 * The two places where a container header has to be read or written by hand because FFmpeg cannot:
 * a truncated WAV (FFmpeg estimates its duration from the file size, hiding the truncation), and FLAC
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
