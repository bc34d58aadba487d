/** `voicestudio models list|show|pick|import|export|rename|rate|rm`: the project's voice models. */
import path from 'node:path';
import type { CommandUnknownOpts } from '@commander-js/extra-typings';
import { ErrorCode, ExitCode, VoicestudioError } from '../errors.js';
import { action, type CliIo, type RunState } from '../ui/context.js';
import { integerInRange } from './shared/options.js';
import { backendOption } from './shared/backend-option.js';
import { formatDuration, formatUsd, renderTable } from '../ui/table.js';
import { recordedModelFile, type ModelRecordView } from '../project/models.js';
import type { PthMetadata } from '../project/pth-metadata.js';

interface ProjectOption {
  project: string;
}

export function renderModels(models: ModelRecordView[]): string {
  if (models.length === 0) return 'No models yet. Train one (voicestudio train <project>) or import one (voicestudio models import <zip|pth>).';
  return renderTable(
    ['model', 'origin', 'epochs', 'data', 'size', 'created', 'cost', 'rating'],
    models.map((m) => {
      const card = m.card ?? {};
      const pth = recordedModelFile(m);
      return [
        `${m.name}@${m.version}`,
        m.origin ?? '–',
        String(card.training?.epochs ?? card.settings?.epochs ?? '–'),
        card.dataset === undefined ? '–' : `${card.dataset.minutes} min`,
        pth === undefined ? 'no .pth recorded' : `${(pth.size / 1e6).toFixed(1)} MB`,
        m.createdAt?.slice(0, 10) ?? '–',
        card.costUsd === undefined ? '–' : formatUsd(card.costUsd),
        m.rating === undefined ? '–' : `${'★'.repeat(m.rating.stars)}${'☆'.repeat(5 - m.rating.stars)}`,
      ];
    }),
  );
}

export function renderModel(m: ModelRecordView, fromPth: PthMetadata | undefined): string {
  const card = m.card ?? {};
  const pth = recordedModelFile(m);
  const lines = [
    `${m.name}@${m.version} (${m.origin ?? 'origin not recorded'}, ${m.createdAt ?? 'date not recorded'})`,
    pth === undefined ? '  model  no .pth recorded' : `  model  ${pth.file}  sha256 ${pth.sha256.slice(0, 16)}…`,
  ];
  if (fromPth !== undefined) {
    const said = [
      fromPth.epochs === undefined ? undefined : `${fromPth.epochs} epochs`,
      fromPth.sampleRate === undefined ? undefined : `${fromPth.sampleRate} Hz`,
      fromPth.version,
      fromPth.f0 === undefined ? undefined : fromPth.f0 ? 'pitch-guided' : 'no pitch guidance',
      fromPth.vocoder,
      fromPth.embedder,
    ].filter((part) => part !== undefined);
    if (said.length > 0) lines.push(`  the .pth says  ${said.join(', ')}`);
  }
  if (m.index !== undefined) lines.push(`  index  ${m.index.file}`);
  const s = card.settings;
  if (s !== undefined) lines.push(`  settings  ${Object.entries(s).map(([k, v]) => `${k}=${String(v)}`).join(' ')}`);
  const d = card.dataset;
  if (d !== undefined) lines.push(`  dataset  ${d.clips} clips, ${d.minutes} min (singing ${d.singingMinutes}, speech ${d.speechMinutes}), sha256 ${d.sha256.slice(0, 12)}…`);
  if (card.gpuSeconds !== undefined) lines.push(`  GPU  ${formatDuration(card.gpuSeconds)}${card.costUsd === undefined ? '' : `, ${formatUsd(card.costUsd)}`} (job ${card.jobId ?? '?'})`);
  if (card.importedFrom !== undefined) lines.push(`  imported from ${card.importedFrom}`);
  if (card.pickedFrom !== undefined) lines.push(`  picked  epoch ${card.pickedFrom.epoch} of ${card.pickedFrom.model} (step ${card.pickedFrom.step})`);
  if (card.savedEpochs !== undefined && card.savedEpochs.length > 0) lines.push(`  saved epochs  ${card.savedEpochs.map((e) => e.epoch).join(', ')} (voicestudio audition, models pick)`);
  if (m.rating !== undefined) lines.push(`  rating  ${m.rating.stars}/5${m.rating.note === undefined ? '' : ` — ${m.rating.note}`} (${m.rating.ratedAt.slice(0, 10)})`);
  return lines.join('\n');
}

export function registerModels(program: CommandUnknownOpts, io: CliIo, state: RunState): void {
  const models = program
    .command('models')
    .description('list, inspect, rate, import, export, rename and remove voice models')
    .addHelpText(
      'after',
      `
Examples:
  $ voicestudio models list -p ./vocals
  $ voicestudio models show alice@2 -p ./vocals
  $ voicestudio models pick alice@2 --epoch 150 -p ./vocals       # a new version from a saved epoch (see audition)
  $ voicestudio models import ~/Downloads/singer.zip --name singer -p ./vocals
  $ voicestudio models export alice -o alice.zip -p ./vocals     # an Applio-compatible zip (.pth + .index)
  $ voicestudio models rate alice@2 4 --note "breathy on high notes" -p ./vocals
  $ voicestudio models rm alice@1 -p ./vocals --yes                # asks first unless --yes; refuses in a pipe without it`,
    );
  const projectOf = (cwd: string, options: ProjectOption): string => path.resolve(cwd, options.project);

  models
    .command('list')
    .description('every model version in the project')
    .option('-p, --project <dir>', 'project folder', '.')
    .action(
      action(io, state, async (ctx, options) => {
        const { readManifest } = await import('../project/manifest.js');
        const { modelVersions } = await import('../project/models.js');
        const list = modelVersions((await readManifest(projectOf(ctx.io.cwd, options))) ?? { models: [] });
        ctx.out.result(list, () => renderModels(list));
        return ExitCode.Success;
      }),
    );

  models
    .command('show')
    .description('one model: files, settings, dataset, GPU time and cost, and what its .pth says (epochs, sample rate)')
    .argument('<model>', 'name (newest version) or name@version')
    .option('-p, --project <dir>', 'project folder', '.')
    .action(
      action(io, state, async (ctx, spec, options) => {
        const { readManifest } = await import('../project/manifest.js');
        const { findModel } = await import('../project/models.js');
        const { fromProject } = await import('../util/files.js');
        const { readPthMetadata } = await import('../project/pth-metadata.js');
        const projectDir = projectOf(ctx.io.cwd, options);
        const model = findModel((await readManifest(projectDir)) ?? { models: [] }, spec);
        if (model === undefined) throw new VoicestudioError(ErrorCode.ModelMissing, `No model "${spec}".`, { subject: spec, suggestion: 'See voicestudio models list.' });
        // Read from the file itself, so an imported model (whose card knows nothing of its training) says it too.
        const pth = recordedModelFile(model);
        const fromPth = pth === undefined ? undefined : await readPthMetadata(fromProject(projectDir, pth.file));
        ctx.out.result({ ...model, ...(fromPth === undefined ? {} : { fromPth }) }, () => renderModel(model, fromPth));
        return ExitCode.Success;
      }),
    );

  models
    .command('import')
    .description('add an existing Applio/RVC model (a .zip, or a .pth with its .index beside it)')
    .argument('<file>', '.zip or .pth')
    .requiredOption('--name <name>', 'name for the model in this project')
    .option('-p, --project <dir>', 'project folder', '.')
    .action(
      action(io, state, async (ctx, file, options) => {
        const { resolveModel, addModelVersion } = await import('../project/models.js');
        const projectDir = projectOf(ctx.io.cwd, options);
        if (!/\.(zip|pth)$/i.test(file)) throw new VoicestudioError(ErrorCode.Usage, `${file} is neither a .zip nor a .pth.`, { exitCode: ExitCode.Usage, suggestion: 'Give an Applio/RVC model zip, or the .pth file.' });
        const resolved = await resolveModel(projectDir, file, ctx.io.cwd);
        const model = await addModelVersion(projectDir, options.name, { pth: resolved.pth, ...(resolved.index === undefined ? {} : { index: resolved.index }) }, { importedFrom: path.resolve(ctx.io.cwd, file) }, 'imported');
        ctx.out.result(model, () => `imported ${model.name}@${model.version}${model.index === undefined ? ' (no .index found: conversions will not use one)' : ''}`);
        return ExitCode.Success;
      }),
    );

  models
    .command('export')
    .description('write a model as an Applio-compatible zip (.pth + .index)')
    .argument('<model>', 'name or name@version')
    .requiredOption('-o, --output <zip>', 'the zip to write')
    .option('-p, --project <dir>', 'project folder', '.')
    .action(
      action(io, state, async (ctx, spec, options) => {
        const { resolveModel } = await import('../project/models.js');
        const { writeModelZip } = await import('../project/model-zip.js');
        const resolved = await resolveModel(projectOf(ctx.io.cwd, options), spec, ctx.io.cwd);
        const name = resolved.version?.name ?? path.basename(resolved.pth, '.pth');
        const zip = path.resolve(ctx.io.cwd, options.output);
        await writeModelZip(zip, [{ name: `${name}.pth`, file: resolved.pth }, ...(resolved.index === undefined ? [] : [{ name: `${name}.index`, file: resolved.index }])]);
        ctx.out.result({ model: resolved.label, zip }, () => `wrote ${zip}`);
        return ExitCode.Success;
      }),
    );

  models
    .command('pick')
    .description("make a new version of a model from one of the epochs its training saved (the one audition recommends, or another)")
    .argument('<model>', 'name (newest version) or name@version')
    .requiredOption('--epoch <n>', 'a saved epoch (models show lists them)', integerInRange(1, 1_000_000))
    .option('-p, --project <dir>', 'project folder', '.')
    .addOption(backendOption())
    .addHelpText(
      'after',
      `
The epoch's weights are fetched from the endpoint's volume, where training left them (one small download);
the new version keeps the same index and records where it came from. Picking the same epoch again returns
the version made the first time. convert, batch and models export then use it like any version.`,
    )
    .action(
      action(io, state, async (ctx, spec, options) => {
        const { pickEpoch } = await import('../workflows/pick.js');
        const { openBackend } = await import('../runpod/connect.js');
        const backend = await openBackend(options.backend, ctx.io.env);
        const picked = await pickEpoch({ projectDir: projectOf(ctx.io.cwd, options), spec, epoch: options.epoch, backend, signal: ctx.io.signal });
        const label = `${picked.model.name}@${picked.model.version}`;
        ctx.out.result(picked, () => (picked.created ? `${label}: epoch ${picked.epoch.epoch} of ${picked.from}` : `${label} already holds epoch ${picked.epoch.epoch} of ${picked.from}; nothing fetched`));
        return ExitCode.Success;
      }),
    );

  models
    .command('rename')
    .description('rename a model (all its versions)')
    .argument('<from>', 'current name')
    .argument('<to>', 'new name')
    .option('-p, --project <dir>', 'project folder', '.')
    .action(
      action(io, state, async (ctx, from, to, options) => {
        const { renameModel } = await import('../project/models.js');
        const moved = await renameModel(projectOf(ctx.io.cwd, options), from, to);
        ctx.out.result(moved, () => `renamed ${from} to ${to} (${moved.length} version${moved.length === 1 ? '' : 's'})`);
        return ExitCode.Success;
      }),
    );

  models
    .command('rate')
    .description('record how good a model version sounds, 1 (unusable) to 5 (release quality)')
    .argument('<model>', 'name (newest version) or name@version')
    .argument('<stars>', '1 to 5', integerInRange(1, 5))
    .option('--note <text>', 'what you heard, e.g. "breathy on high notes"')
    .option('-p, --project <dir>', 'project folder', '.')
    .action(
      action(io, state, async (ctx, spec, stars, options) => {
        const { rateModel } = await import('../project/models.js');
        const model = await rateModel(projectOf(ctx.io.cwd, options), spec, stars, options.note);
        ctx.out.result(model, () => `${model.name}@${model.version}: ${stars}/5`);
        return ExitCode.Success;
      }),
    );

  models
    .command('rm')
    .description('remove a model version (name@version) or a whole model (name), files included')
    .argument('<model>', 'name or name@version')
    .option('-p, --project <dir>', 'project folder', '.')
    .option('-y, --yes', 'remove without asking (needed when there is no terminal to ask on)', false)
    .action(
      action(io, state, async (ctx, spec, options) => {
        const { removeModel, versionsToRemove } = await import('../project/models.js');
        const { confirmed } = await import('../ui/confirm.js');
        const projectDir = projectOf(ctx.io.cwd, options);
        const labels = (await versionsToRemove(projectDir, spec)).map((m) => `${m.name}@${m.version}`).join(', ');
        if (!(await confirmed(ctx.io, `Remove ${labels} and its files from ${projectDir}?`, options.yes))) {
          ctx.out.result([], () => 'Nothing removed.');
          return ExitCode.Success;
        }
        const removed = await removeModel(projectDir, spec);
        ctx.out.result(removed, () => `removed ${removed.map((m) => `${m.name}@${m.version}`).join(', ')}`);
        return ExitCode.Success;
      }),
    );
}
