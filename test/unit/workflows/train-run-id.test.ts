import { describe, expect, it } from 'vitest';
import { trainInput, trainingRunId } from '../../../src/workflows/train.js';
import { defaultValues } from '../../../src/tasks/settings.js';
import { TRAIN_SETTINGS } from '../../../src/tasks/train.js';

const SHA = 'c0ffee'.repeat(10) + 'abcd';

describe('a training run and the members the worker leaves out', () => {
  it('keeps the run id of an archive without exclusions, and another exclusion list is another run', () => {
    expect(trainingRunId('alice', SHA)).toBe(`alice-${SHA.slice(0, 12)}`);
    expect(trainingRunId('alice', SHA, [])).toBe(trainingRunId('alice', SHA));
    const one = trainingRunId('alice', SHA, ['clips/a-0001.flac']);
    expect(one).not.toBe(trainingRunId('alice', SHA));
    expect(trainingRunId('alice', SHA, ['clips/a-0002.flac'])).not.toBe(one);
    // The order of the list does not make another run.
    expect(trainingRunId('alice', SHA, ['clips/b.flac', 'clips/a.flac'])).toBe(trainingRunId('alice', SHA, ['clips/a.flac', 'clips/b.flac']));
  });

  it('sends the list as the train task\'s exclude, and nothing when it is empty', () => {
    const settings = { name: 'alice', ...defaultValues(TRAIN_SETTINGS) };
    expect(trainInput(settings, 'r', SHA)).not.toHaveProperty('exclude');
    expect(trainInput(settings, 'r', SHA, ['clips/a-0001.flac']).exclude).toEqual(['clips/a-0001.flac']);
  });
});
