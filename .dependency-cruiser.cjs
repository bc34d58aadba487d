// The layers of src/ (ARCHITECTURE.md): commands → workflows → (audio | runpod) → project, with ui beside commands and
// the foundation (errors.ts, config/, tasks/, util/) under everything. Imports only point down. `npm test` runs these
// rules; a violation prints the rule, the importing file and the imported one.
const LAYERS_ABOVE = {
  foundation: '^src/(commands|ui|workflows|audio|runpod|project)/',
  project: '^src/(commands|ui|workflows|audio|runpod)/',
  audio: '^src/(commands|ui|workflows|runpod)/',
  runpod: '^src/(commands|ui|workflows|audio|project)/',
  workflows: '^src/(commands|ui)/',
  ui: '^src/(commands|audio|runpod)/',
};

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'foundation-imports-no-layer',
      comment: 'errors.ts, config/, tasks/ and util/ sit under every layer: they import none of them.',
      severity: 'error',
      from: { path: '^src/(errors\\.ts|config/|tasks/|util/)' },
      to: { path: LAYERS_ABOVE.foundation },
    },
    {
      name: 'project-imports-nothing-above',
      comment: "project/ is the project's state on disk: it knows no sound work, no RunPod, no workflow, no terminal.",
      severity: 'error',
      from: { path: '^src/project/' },
      to: { path: LAYERS_ABOVE.project },
    },
    {
      name: 'audio-is-local',
      comment: 'audio/ is local sound work: no network (runpod/), no workflow, no terminal.',
      severity: 'error',
      from: { path: '^src/audio/' },
      to: { path: LAYERS_ABOVE.audio },
    },
    {
      name: 'runpod-knows-no-project',
      comment: 'runpod/ is the RunPod client and backends: it knows nothing of projects, sound work or workflows.',
      severity: 'error',
      from: { path: '^src/runpod/' },
      to: { path: LAYERS_ABOVE.runpod },
    },
    {
      name: 'workflows-do-no-terminal-io',
      comment: 'workflows/ compose steps and report through events and results; commands and ui render them.',
      severity: 'error',
      from: { path: '^src/workflows/' },
      to: { path: LAYERS_ABOVE.workflows },
    },
    {
      name: 'ui-renders-only',
      comment: 'ui/ renders results and progress; it reads project types but runs no workflow, sound work or request.',
      severity: 'error',
      from: { path: '^src/ui/' },
      to: { path: LAYERS_ABOVE.ui },
    },
    {
      name: 'ui-reads-workflow-types-only',
      comment: "ui/ renders a workflow's results and events by their types; it never runs a workflow (import type only).",
      severity: 'error',
      from: { path: '^src/ui/' },
      to: { path: '^src/workflows/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'no-command-imports-a-command',
      comment: 'One file per command; what two commands share lives in commands/shared/, ui/ or a workflow.',
      severity: 'error',
      from: { path: '^src/commands/[^/]+\\.ts$' },
      to: { path: '^src/commands/[^/]+\\.ts$', pathNot: '^src/commands/shared/' },
    },
    {
      name: 'shared-options-import-no-command',
      comment: 'commands/shared/ holds option builders used by several commands; it imports no command.',
      severity: 'error',
      from: { path: '^src/commands/shared/' },
      to: { path: '^src/commands/[^/]+\\.ts$' },
    },
    {
      name: 'src-imports-no-test',
      comment: 'Test doubles live under test/ and are never imported by the product.',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench|scripts)/' },
    },
    {
      name: 'no-circular',
      comment: 'A cycle ties modules into one; break it by moving the shared part down a layer.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    parser: 'swc',
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.js'] },
    reporterOptions: { err: {} },
  },
};
