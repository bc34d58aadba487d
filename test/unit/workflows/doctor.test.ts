import { describe, expect, it } from 'vitest';
import { deviceDetail, gpuCheck, shmCheck } from '../../../src/workflows/doctor.js';

const GIB = 2 ** 30;

describe('doctor: the worker’s device', () => {
  it('names the GPU, or where Applio runs without one', () => {
    const cuda = { extract: 'cuda', train: 'cuda', convert: 'cuda' };
    expect(deviceDetail({ gpu_name: 'NVIDIA GeForce RTX 4090', gpu_memory_bytes: 24 * GIB, devices: cuda })).toBe('GPU NVIDIA GeForce RTX 4090 24 GiB');
    expect(deviceDetail({ devices: { extract: 'cpu', train: 'mps', convert: 'cpu' } })).toBe('no CUDA GPU: trains on mps, extracts on cpu, converts on cpu');
    expect(deviceDetail({ devices: null })).toBe("GPU none (torch does not load in Applio's Python)");
    expect(deviceDetail({ gpu_name: 'NVIDIA A40' })).toBe('GPU NVIDIA A40'); // a worker from before devices were reported
  });
});

describe('doctor: the worker’s GPU', () => {
  const cuda = { extract: 'cuda', train: 'cuda', convert: 'cuda' };
  const cpu = { extract: 'cpu', train: 'cpu', convert: 'cpu' };
  it('fails without torch or CUDA, unless the worker runs with VOICESTUDIO_ALLOW_CPU=1 (then warns)', () => {
    expect(gpuCheck({ gpu_name: 'NVIDIA A40', devices: cuda }, false)).toEqual({ name: 'gpu', status: 'ok', detail: 'GPU NVIDIA A40' });
    expect(gpuCheck({ devices: null }, false)).toMatchObject({ status: 'fail', suggestion: expect.stringContaining('cannot load torch') });
    expect(gpuCheck({ devices: cpu }, false)).toMatchObject({ status: 'fail', suggestion: expect.stringContaining('CUDA 12.8') });
    expect(gpuCheck(undefined, false).status).toBe('fail');
    expect(gpuCheck({ devices: cpu }, true)).toMatchObject({ status: 'warn', detail: expect.stringContaining('VOICESTUDIO_ALLOW_CPU=1') });
    expect(gpuCheck({ devices: null }, true).status).toBe('warn');
  });
});

describe('doctor: /dev/shm', () => {
  it('warns when the worker has less than Applio’s training needs, and says which endpoint setting to change', () => {
    const small = shmCheck({ total_bytes: 64 * 2 ** 20, recommended_bytes: 2 * GIB });
    expect(small).toMatchObject({ name: 'shm', status: 'warn', detail: '/dev/shm 0.1 GiB (training wants 2 GiB)' });
    expect(small.suggestion).toContain('GPU type with more system memory');
    expect(shmCheck({ total_bytes: 16 * GIB, recommended_bytes: 2 * GIB })).toEqual({ name: 'shm', status: 'ok', detail: '/dev/shm 16.0 GiB (training wants 2 GiB)' });
    expect(shmCheck({ total_bytes: null, recommended_bytes: 2 * GIB }).status).toBe('warn');
    expect(shmCheck(undefined)).toMatchObject({ status: 'warn', detail: 'the worker does not report /dev/shm' });
  });
});
