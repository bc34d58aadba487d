/**
 * The layer rules of .dependency-cruiser.cjs, checked against deliberate bad imports: each case builds a two-file tree
 * in a temporary folder and runs the real depcruise on it with the project's own config. `npm test` runs the same
 * config over src/ (npm run check:layers).
 */
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { makeTempDir, REPO_ROOT } from '../../helpers/cli.js';

const DEPCRUISE = path.join(REPO_ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruiser.mjs');

interface Case {
  from: string;
  to: string;
  typeOnly?: boolean;
  /** The rule that must fire, or undefined when the import is allowed. */
  rule: string | undefined;
}

const CASES: Case[] = [
  { from: 'src/audio/slicer.ts', to: 'src/runpod/client.ts', rule: 'audio-is-local' },
  { from: 'src/audio/slicer.ts', to: 'src/workflows/train.ts', typeOnly: true, rule: 'audio-is-local' },
  { from: 'src/project/manifest.ts', to: 'src/audio/ffmpeg.ts', rule: 'project-imports-nothing-above' },
  { from: 'src/project/ledger.ts', to: 'src/runpod/types.ts', typeOnly: true, rule: 'project-imports-nothing-above' },
  { from: 'src/runpod/transfer.ts', to: 'src/project/layout.ts', rule: 'runpod-knows-no-project' },
  { from: 'src/workflows/train.ts', to: 'src/ui/output.ts', rule: 'workflows-do-no-terminal-io' },
  { from: 'src/workflows/train.ts', to: 'src/commands/train.ts', rule: 'workflows-do-no-terminal-io' },
  { from: 'src/commands/convert.ts', to: 'src/commands/batch.ts', rule: 'no-command-imports-a-command' },
  { from: 'src/commands/shared/options.ts', to: 'src/commands/train.ts', rule: 'shared-options-import-no-command' },
  { from: 'src/util/files.ts', to: 'src/project/layout.ts', rule: 'foundation-imports-no-layer' },
  { from: 'src/tasks/convert.ts', to: 'src/workflows/convert.ts', typeOnly: true, rule: 'foundation-imports-no-layer' },
  { from: 'src/ui/output.ts', to: 'src/workflows/album.ts', rule: 'ui-reads-workflow-types-only' },
  { from: 'src/ui/output.ts', to: 'src/runpod/client.ts', rule: 'ui-renders-only' },
  { from: 'src/audio/mix.ts', to: '../test/helpers/audio.ts', rule: 'src-imports-no-test' },
  // Allowed: each points down.
  { from: 'src/commands/train.ts', to: 'src/workflows/train.ts', rule: undefined },
  { from: 'src/workflows/train.ts', to: 'src/runpod/backend.ts', rule: undefined },
  { from: 'src/audio/mix.ts', to: 'src/project/layout.ts', rule: undefined },
  { from: 'src/ui/album-progress.ts', to: 'src/workflows/album.ts', typeOnly: true, rule: undefined },
  { from: 'src/commands/convert.ts', to: 'src/commands/shared/separation-mix.ts', rule: undefined },
];

let tmp: { dir: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  tmp = await makeTempDir('layers');
});
afterAll(async () => tmp.cleanup());

/** A tree of just the two files, one importing the other, with the project's config beside it. */
async function cruise(c: Case, index: number): Promise<{ exitCode: number; output: string }> {
  const root = path.join(tmp.dir, String(index));
  const target = c.to.startsWith('../') ? path.normalize(path.join('src', c.to)) : c.to;
  await mkdir(path.join(root, path.dirname(c.from)), { recursive: true });
  await mkdir(path.join(root, path.dirname(target)), { recursive: true });
  await copyFile(path.join(REPO_ROOT, '.dependency-cruiser.cjs'), path.join(root, '.dependency-cruiser.cjs'));
  await copyFile(path.join(REPO_ROOT, 'tsconfig.json'), path.join(root, 'tsconfig.json'));
  await writeFile(path.join(root, target), 'export interface Thing { name: string }\nexport const thing: Thing = { name: "x" };\n');
  let specifier = path.relative(path.dirname(c.from), target).replace(/\.ts$/, '.js');
  if (!specifier.startsWith('.')) specifier = `./${specifier}`;
  const line = c.typeOnly === true ? `import type { Thing } from '${specifier}';\nexport type Other = Thing;\n` : `import { thing } from '${specifier}';\nexport const other = thing;\n`;
  await writeFile(path.join(root, c.from), line);
  const run = await execa(process.execPath, [DEPCRUISE, 'src', '--config', '.dependency-cruiser.cjs'], { cwd: root, reject: false, all: true });
  return { exitCode: run.exitCode ?? -1, output: String(run.all) };
}

describe('dependency-cruiser layer rules', () => {
  it.each(CASES.map((c, index) => ({ ...c, index, kind: c.typeOnly === true ? 'import type' : 'import', verdict: c.rule ?? 'allowed' })))('$from → $to ($kind): $verdict', async ({ index, ...c }) => {
    const { exitCode, output } = await cruise(c, index);
    if (c.rule === undefined) {
      expect(output).toContain('no dependency violations found');
      expect(exitCode).toBe(0);
      return;
    }
    expect(exitCode).not.toBe(0);
    // The message names the rule, the importing file and the imported one.
    const target = c.to.startsWith('../') ? path.normalize(path.join('src', c.to)) : c.to;
    expect(output).toMatch(new RegExp(`error ${c.rule}: ${c.from.replaceAll('.', '\\.')} → ${target.replaceAll('.', '\\.')}`));
  });
});
