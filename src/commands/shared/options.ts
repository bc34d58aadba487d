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

/** A comma-separated list of epochs, e.g. `50,100,150`. */
export function epochList(raw: string): number[] {
  const parts = raw.split(',').map((part) => part.trim());
  if (parts.some((part) => !/^[1-9]\d*$/.test(part))) throw new InvalidArgumentError('expected epochs as whole numbers separated by commas, e.g. 50,100,150.');
  return parts.map(Number);
}
