/**
 * The manifest's versions and the steps between them. Each step works on the parsed JSON as it is, damage included:
 * validation (manifest-schema.ts) comes after the last step, so damage is named in the current version's terms.
 */

/**
 * Bumped whenever a field is added: a voicestudio that does not know a field keeps it but does not act on it, so an
 * older one must refuse a newer manifest (ManifestTooNew) rather than silently ignore, say, an exclusion.
 */
export const CURRENT_MANIFEST_VERSION = 4;

export type ManifestFields = Record<string, unknown>;

/** MIGRATIONS[n] turns a version-n manifest into version n+1. */
const MIGRATIONS: readonly ((manifest: ManifestFields) => ManifestFields)[] = [migrateV0ToV1, migrateV1ToV2, migrateV2ToV3, migrateV3ToV4];

/** Brings a version-`version` manifest to CURRENT_MANIFEST_VERSION. Pure: returns new objects, the input is untouched. */
export function upgradeManifest(manifest: ManifestFields, version: number): ManifestFields {
  let upgraded = manifest;
  for (let from = version; from < CURRENT_MANIFEST_VERSION; from++) {
    const migration = MIGRATIONS[from];
    if (migration === undefined) throw new Error(`No migration from manifest version ${from}`);
    upgraded = migration(upgraded);
  }
  return upgraded;
}

/** v0, the prototype's: no `version`, maybe no segments/preprocess/models/jobs; sources lack aliases/streamIndex. */
function migrateV0ToV1(manifest: ManifestFields): ManifestFields {
  const { sources } = manifest;
  return {
    ...manifest,
    version: 1,
    sources: Array.isArray(sources) ? sources.map(fillV0SourceFields) : sources,
    segments: manifest.segments ?? [],
    preprocess: manifest.preprocess ?? { records: [] },
    models: manifest.models ?? [],
    jobs: manifest.jobs ?? [],
  };
}

function fillV0SourceFields(source: unknown): unknown {
  if (!isFields(source)) return source;
  // v0 did not record which audio stream was taken; assume the first.
  return { ...source, aliases: source.aliases ?? [], streamIndex: source.streamIndex ?? 0 };
}

/**
 * v1 to v2: sources gain exclusions (`excluded`, `excludedClips`). v1's clips came from a slicer that lost short sources
 * and sung phrases, and its reports lack the sound figures: the preprocess records go, so the next preprocess (or train)
 * cuts every source again. The settings gain the silence settings.
 */
function migrateV1ToV2(manifest: ManifestFields): ManifestFields {
  const { sources } = manifest;
  const preprocess = isFields(manifest.preprocess) ? manifest.preprocess : {};
  const settings = isFields(preprocess.settings) ? { ...preprocess.settings, silenceThresholdDb: 'auto', minSilenceMs: 300 } : undefined;
  return {
    ...manifest,
    version: 2,
    sources: Array.isArray(sources) ? sources.map((source: unknown) => (isFields(source) ? { ...source, excludedClips: source.excludedClips ?? [] } : source)) : sources,
    preprocess: { ...preprocess, ...(settings === undefined ? {} : { settings }), records: [] },
  };
}

/** v2 to v3: a few clips are held out of training for audition; none yet (the next preprocess chooses them). */
function migrateV2ToV3(manifest: ManifestFields): ManifestFields {
  const preprocess = isFields(manifest.preprocess) ? manifest.preprocess : {};
  const settings = isFields(preprocess.settings) ? { ...preprocess.settings, holdout: preprocess.settings.holdout ?? true } : undefined;
  return { ...manifest, version: 3, preprocess: { ...preprocess, ...(settings === undefined ? {} : { settings }), heldOut: preprocess.heldOut ?? [] } };
}

/**
 * v3 to v4: a clip exclusion may be the speaker screen's (`screen`: similarity and threshold). v3 had no screen, so
 * every exclusion stays the user's; only the version changes (an older voicestudio must not re-include screened clips).
 */
function migrateV3ToV4(manifest: ManifestFields): ManifestFields {
  return { ...manifest, version: 4 };
}

function isFields(value: unknown): value is ManifestFields {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
