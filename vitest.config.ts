import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // End-to-end tests spawn bin/voicestudio and FFmpeg; two cores are shared between forks. Tests wait on events,
    // never on time: this limit is only a safety net for a hang, wide enough for a machine running two suites at once.
    testTimeout: 180_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
