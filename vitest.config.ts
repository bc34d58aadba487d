import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // End-to-end tests spawn bin/voicestudio and FFmpeg; two cores are shared between forks.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
