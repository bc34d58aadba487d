/** What start-up loads: `--help` must stay quick, so the schema library is loaded only by commands that use it. */
import { describe, expect, it } from 'vitest';
import { makeTempDir, runCli } from '../helpers/cli.js';

/** Reports on stderr each module of zod that is loaded. */
const REPORT_ZOD = `data:text/javascript,${encodeURIComponent(
  [
    "import { registerHooks } from 'node:module';",
    "import { writeSync } from 'node:fs';",
    "registerHooks({ load(url, context, next) { if (url.includes('/node_modules/zod/')) writeSync(2, 'loaded zod\\n'); return next(url, context); } });",
  ].join('\n'),
)}`;

describe('start-up', () => {
  it('--help loads no zod; a command that checks a value does', async () => {
    const { dir, cleanup } = await makeTempDir('voicestudio-startup-');
    try {
      const env = { NODE_OPTIONS: `--import=${REPORT_ZOD}`, VOICESTUDIO_CONFIG_DIR: dir };
      const help = await runCli(['--help'], { env });
      expect(help.exitCode).toBe(0);
      expect(help.stderr).not.toContain('loaded zod');
      const configHelp = await runCli(['config', '--help'], { env });
      expect(configHelp.exitCode).toBe(0);
      expect(configHelp.stderr).not.toContain('loaded zod');
      const setting = await runCli(['config', 'set', 'concurrency', '8'], { env });
      expect(setting.exitCode).toBe(0);
      expect(setting.stderr).toContain('loaded zod');
    } finally {
      await cleanup();
    }
  });
});
