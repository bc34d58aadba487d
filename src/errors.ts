import { accessSync, constants as fsConstants } from 'node:fs';
import path from 'node:path';

/**
 * Typed errors and the documented exit-code table.
 *
 * Every error voicestudio reports to a user is a VoicestudioError: it names the file or setting involved
 * (in `message`), says what to do next (`suggestion`), and maps to one exit code. Anything else that
 * escapes is a bug and exits 1 with its stack under --verbose.
 */

export const ExitCode = {
  /** Everything asked for was done. */
  Success: 0,
  /** The command failed; nothing (or nothing more) was done. */
  Failure: 1,
  /** The command line itself was wrong: unknown option, bad value, missing argument. */
  Usage: 2,
  /** Some inputs failed and were reported; every other input was processed. */
  Partial: 3,
  /** Interrupted by the user (Ctrl-C / SIGINT). */
  Interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export const ErrorCode = {
  Usage: 'usage',
  Config: 'config',
  Credentials: 'credentials',
  FfmpegMissing: 'ffmpeg_missing',
  FfmpegFailed: 'ffmpeg_failed',
  MediaUnreadable: 'media_unreadable',
  ProjectMissing: 'project_missing',
  ManifestDamaged: 'manifest_damaged',
  ManifestLocked: 'manifest_locked',
  ManifestTooNew: 'manifest_too_new',
  NothingToDo: 'nothing_to_do',
  DatasetInsufficient: 'dataset_insufficient',
  Interrupted: 'interrupted',
  Internal: 'internal',
  ModelMissing: 'model_missing',
  SourceMissing: 'source_missing',
  Detached: 'detached',
  RunpodAuth: 'runpod_auth',
  RunpodEndpointNotFound: 'runpod_endpoint_not_found',
  RunpodJobExpired: 'runpod_job_expired',
  RunpodRateLimited: 'runpod_rate_limited',
  RunpodServerError: 'runpod_server_error',
  RunpodBadRequest: 'runpod_bad_request',
  RunpodInsufficientBalance: 'runpod_insufficient_balance',
  RunpodWorkersThrottled: 'runpod_workers_throttled',
  RunpodApiError: 'runpod_api_error',
  RunpodUnexpectedResponse: 'runpod_unexpected_response',
  RunpodConnection: 'runpod_connection',
  RunpodTimeout: 'runpod_timeout',
  JobFailed: 'job_failed',
  JobTimedOut: 'job_timed_out',
  JobCancelled: 'job_cancelled',
  JobOutputMissing: 'job_output_missing',
  JobSubmitUnknown: 'job_submit_unknown',
  WaitDeadline: 'wait_deadline',
  TransferFailed: 'transfer_failed',
  ArchiveInvalid: 'archive_invalid',
  NotWritable: 'not_writable',
  DiskFull: 'disk_full',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface VoicestudioErrorOptions {
  suggestion?: string;
  /** The file or setting the error is about, for --json consumers. */
  subject?: string;
  exitCode?: ExitCode;
  cause?: unknown;
}

export class VoicestudioError extends Error {
  readonly code: ErrorCode;
  readonly suggestion: string | undefined;
  readonly subject: string | undefined;
  readonly exitCode: ExitCode;

  constructor(code: ErrorCode, message: string, options: VoicestudioErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'VoicestudioError';
    this.code = code;
    this.suggestion = options.suggestion;
    this.subject = options.subject;
    this.exitCode = options.exitCode ?? ExitCode.Failure;
  }

  toJSON(): { code: ErrorCode; message: string; suggestion?: string; subject?: string } {
    return {
      code: this.code,
      message: this.message,
      ...(this.suggestion === undefined ? {} : { suggestion: this.suggestion }),
      ...(this.subject === undefined ? {} : { subject: this.subject }),
    };
  }
}

/** A command-line mistake found after parsing (a value commander cannot check by itself). */
export class UsageError extends VoicestudioError {
  constructor(message: string, suggestion?: string) {
    super(ErrorCode.Usage, message, { suggestion, exitCode: ExitCode.Usage });
    this.name = 'UsageError';
  }
}

export class InterruptedError extends VoicestudioError {
  constructor(message = 'Interrupted.') {
    super(ErrorCode.Interrupted, message, {
      suggestion: 'Run the same command again to continue where it stopped.',
      exitCode: ExitCode.Interrupted,
    });
    this.name = 'InterruptedError';
  }
}

/** A write the disk refused for want of space (ENOSPC, or EDQUOT: the user's quota is used up). */
export function diskFullError(file: string, code = 'ENOSPC'): VoicestudioError {
  return new VoicestudioError(ErrorCode.DiskFull, `The disk holding ${path.dirname(file)} is full (${code}): ${file} could not be written.`, {
    subject: file,
    suggestion: 'Free some space on that disk (or move the project to one with room), then run the command again; what was done so far is kept.',
  });
}

/** A folder voicestudio must write in but may not: permissions, an immutable folder, or a read-only disk. */
export function notWritableError(folder: string, file: string, code: string): VoicestudioError {
  const why = code === 'EROFS' ? 'its disk is mounted read-only' : code === 'EPERM' ? 'operation not permitted' : 'permission denied';
  return new VoicestudioError(ErrorCode.NotWritable, `The folder ${folder} is not writable (${code}: ${why}), so ${file} could not be written.`, {
    subject: folder,
    suggestion:
      code === 'EROFS'
        ? 'Copy the project to a writable disk and run the command there, or remount the disk read-write.'
        : `Make ${folder} writable for you (check its owner and permissions, e.g. ls -ld; chmod u+w), or copy the project to a folder you can write in.`,
  });
}

/** System calls that only ever write: a refusal from one of them is about the folder, never about reading. */
const WRITING_CALLS = new Set(['mkdir', 'rename', 'unlink', 'rmdir', 'copyfile', 'write', 'link', 'symlink', 'utime', 'futime', 'chmod', 'fsync', 'ftruncate']);

/**
 * An operating-system error from the filesystem, in words that say what is wrong and what to do: a full disk, a
 * folder that cannot be written, a file that cannot be read. Undefined for any other error.
 */
export function fileSystemError(error: unknown): VoicestudioError | undefined {
  const { code, path: file, dest, syscall } = (error ?? {}) as NodeJS.ErrnoException & { dest?: string };
  if (code === undefined || file === undefined) return undefined;
  if (code === 'ENOSPC' || code === 'EDQUOT') return diskFullError(dest ?? file, code);
  if (code !== 'EACCES' && code !== 'EPERM' && code !== 'EROFS') return undefined;
  const target = dest ?? file;
  const folder = path.dirname(target);
  if (code === 'EROFS' || WRITING_CALLS.has(syscall ?? '') || !canWrite(folder)) return notWritableError(folder, target, code);
  return new VoicestudioError(ErrorCode.MediaUnreadable, `${file}: permission denied (${code}).`, {
    subject: file,
    suggestion: 'Make the file readable for you (check its owner and permissions, e.g. ls -l), then run the command again.',
  });
}

function canWrite(folder: string): boolean {
  try {
    accessSync(folder, fsConstants.W_OK);
    return true;
  } catch {
    return false;
  }
}
