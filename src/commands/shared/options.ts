/** Option parsers shared by commands: commander reports their errors as usage errors (exit 2). */
import { availableParallelism } from 'node:os';
import { InvalidArgumentError } from '@commander-js/extra-typings';

export function integerInRange(min: number, max: number): (raw: string) => number {
  return (raw: string) => {
    const value = Number(raw);
    if (!/^-?\d+$/.test(raw.trim()) || value < min || value > max) throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}.`);
    return value;
  };
}

export function numberInRange(min: number, max: number): (raw: string) => number {
  return (raw: string) => {
    const value = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(value) || value < min || value > max) throw new InvalidArgumentError(`expected a number from ${min} to ${max}.`);
    return value;
  };
}

export const DEFAULT_JOBS = availableParallelism();
export const parseJobs = integerInRange(1, 64);
