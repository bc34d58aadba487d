import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCode, fileSystemError } from '../../src/errors.js';

/** An error as node:fs raises it (the real ones need a full or read-only disk, which a test cannot count on). */
function fsError(code: string, syscall: string, file: string, dest?: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${syscall} '${file}'`), { code, syscall, path: file, ...(dest === undefined ? {} : { dest }) });
}

describe('fileSystemError', () => {
  it('names the full disk and the folder that cannot be written, and says what to do', () => {
    const full = fileSystemError(fsError('ENOSPC', 'write', '/projects/vocals/.voicestudio/clips/a.flac'));
    expect(full).toMatchObject({ code: ErrorCode.DiskFull, message: expect.stringContaining('The disk holding /projects/vocals/.voicestudio/clips is full (ENOSPC)'), suggestion: expect.stringContaining('Free some space') });
    expect(fileSystemError(fsError('EDQUOT', 'write', '/p/x'))?.code).toBe(ErrorCode.DiskFull);

    const readOnly = fileSystemError(fsError('EROFS', 'open', '/projects/vocals/voicestudio.json'));
    expect(readOnly).toMatchObject({ code: ErrorCode.NotWritable, subject: '/projects/vocals', message: expect.stringContaining('The folder /projects/vocals is not writable (EROFS') });
    expect(fileSystemError(fsError('EACCES', 'mkdir', '/projects/vocals/.voicestudio'))).toMatchObject({ code: ErrorCode.NotWritable, subject: '/projects/vocals' });
    expect(fileSystemError(fsError('EPERM', 'rename', '/projects/vocals/a.tmp-1-x', '/projects/vocals/b/a'))).toMatchObject({ code: ErrorCode.NotWritable, subject: '/projects/vocals/b' });
  });

  it('tells a file that cannot be read from a folder that cannot be written', async () => {
    const writable = await mkdtemp(path.join(tmpdir(), 'voicestudio-errors-'));
    try {
      const unreadable = fileSystemError(fsError('EACCES', 'open', path.join(writable, 'take.wav')));
      expect(unreadable).toMatchObject({ code: ErrorCode.MediaUnreadable, message: `${path.join(writable, 'take.wav')}: permission denied (EACCES).` });
    } finally {
      await rm(writable, { recursive: true, force: true });
    }
  });

  it('leaves every other error alone', () => {
    expect(fileSystemError(fsError('ENOENT', 'open', '/p/x'))).toBeUndefined();
    expect(fileSystemError(new Error('boom'))).toBeUndefined();
    expect(fileSystemError(undefined)).toBeUndefined();
  });
});
