import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { shellQuote } from '../../../src/util/shell.js';

describe('shellQuote', () => {
  it.each(['plain/path-1.wav', 'my vocals', "it's", 'a#b $HOME `x` "q"', 'süß & co', ''])('%j comes back whole through sh', (argument) => {
    expect(execFileSync('sh', ['-c', `printf %s ${shellQuote(argument)}`], { encoding: 'utf8' })).toBe(argument);
  });

  it('leaves a plain word as it is', () => {
    expect(shellQuote('./vocals/alice@2')).toBe('./vocals/alice@2');
  });
});
