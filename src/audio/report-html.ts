/**
 * The quality report as a page: .voicestudio/report.html, one self-contained file (inline CSS and SVG, no script, no
 * request outside the project) showing per source where the clips were cut, what was dropped and why, what was silence,
 * the figures and warnings, and a player per clip.
 *
 * The waveform is drawn from the level map ingest saved (the analysis: RMS every hop), never from a new decode, and is
 * reduced to at most WAVEFORM_COLUMNS columns, so an hour-long source's waveform stays a few tens of kilobytes.
 */
import path from 'node:path';
import { readAnalysisFile } from './analysis-cache.js';
import { DB_FLOOR } from './analysis.js';
import { fromProject, writeAtomically } from '../util/files.js';
import { analysisPath, htmlReportPath } from '../project/layout.js';
import { relativeHref } from './href.js';
import { escapeHtml, htmlPage } from './page.js';
import type { DatasetQualityReport, DroppedClip, LostSound, QualityWarning, Segment, SourceQualityReport } from '../project/types.js';

/** Columns of a waveform at most: about a wide screen's pixels. */
export const WAVEFORM_COLUMNS = 1500;
/** The waveform's level scale: this many dBFS at the centre line, 0 dBFS at the edges. */
const WAVEFORM_FLOOR_DB = -72;
/** Level lines drawn across the waveform (dBFS). */
const WAVEFORM_GRID_DB = [-20, -40] as const;
/** A kept clip gets its number written on the timeline when it spans at least this share of the source. */
const LABEL_MIN_SHARE = 0.02;
/** A source's list of clips starts open up to this many rows; a longer one opens on a click or a link to one of its rows. */
const OPEN_LIST_ROWS = 24;
/** Gaps between kept and dropped stretches shorter than this are rounding, not silence. */
const SILENCE_MIN_SEC = 0.005;
/** Time-axis steps (s): the first that gives at most MAX_TICKS ticks. */
const TICK_STEPS_SEC = [0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200] as const;
const MAX_TICKS = 12;

/** SVG layout (px): the timeline lane, the waveform under it, the time axis under that. */
const LANE_HEIGHT = 16;
const WAVE_TOP = LANE_HEIGHT + 2;
const WAVE_HEIGHT = 96;
const AXIS_TOP = WAVE_TOP + WAVE_HEIGHT;
const SVG_HEIGHT = AXIS_TOP + 18;

/** Kept, dropped, silence: blue and orange tell apart with the common colour-vision deficiencies too. */
const COLOURS = { kept: '#1c6fd1', dropped: '#e8590c', silence: '#dee2e6' } as const;
/** The level shape: loudest frame of each column behind, mean power in front. */
const LEVEL_COLOURS = { peak: '#909aa5', mean: '#3b4754' } as const;
/** How strongly a region tints the waveform behind the level shape (silence: not at all). */
const TINT_OPACITY = { kept: 0.13, dropped: 0.16, silence: 0 } as const;

/** A level map reduced for drawing: per column the loudest frame and the mean power of its frames. */
export interface LevelEnvelope {
  /** Seconds the columns cover together. */
  spanSec: number;
  peakDb: Float32Array;
  meanDb: Float32Array;
}

/** A failed source: not in the report, listed on the page with why (SourceOutcome fits). */
export interface FailedSource {
  path: string;
  reason?: string;
  suggestion?: string;
}

export interface ReportPageContent {
  report: DatasetQualityReport;
  /** The manifest's clips (any order); those of sources not in the report are ignored. */
  segments: readonly Segment[];
  failed?: readonly FailedSource[];
  /** Clips kept out of training (`sources exclude`), by clip id, with why. */
  excluded?: ReadonlyMap<string, string>;
}

export interface ReportPageInput extends ReportPageContent {
  /** The project folder: clip links are made relative to the page's folder inside it. */
  projectDir: string;
  /** By source id; a source without one is drawn without a waveform. */
  levels: ReadonlyMap<string, LevelEnvelope>;
}

export function levelEnvelope(rmsDb: Float32Array, hopSec: number, columns = WAVEFORM_COLUMNS): LevelEnvelope {
  const count = Math.min(columns, rmsDb.length);
  const peakDb = new Float32Array(count);
  const meanDb = new Float32Array(count);
  for (let column = 0; column < count; column++) {
    const from = Math.floor((column * rmsDb.length) / count);
    const to = Math.floor(((column + 1) * rmsDb.length) / count);
    let peak = -Infinity;
    let power = 0;
    for (let frame = from; frame < to; frame++) {
      const db = rmsDb[frame]!;
      if (db > peak) peak = db;
      power += 10 ** (db / 10);
    }
    peakDb[column] = peak;
    meanDb[column] = 10 * Math.log10(power / (to - from));
  }
  return { spanSec: rmsDb.length * hopSec, peakDb, meanDb };
}

// ---- text ----

export { escapeHtml };

/** "0:12.3", "1:02:03.4": a position in a source. */
function formatTime(sec: number): string {
  const tenths = Math.round(sec * 10);
  const seconds = ((tenths % 600) / 10).toFixed(1).padStart(4, '0');
  const minutes = Math.floor(tenths / 600);
  return minutes >= 60 ? `${Math.floor(minutes / 60)}:${String(minutes % 60).padStart(2, '0')}:${seconds}` : `${minutes}:${seconds}`;
}

/** Whole seconds as "0:30", "12:05" or "1:00:00". */
function formatClock(sec: number): string {
  const whole = Math.round(sec);
  const mmss = `${Math.floor(whole / 60) % 60}:${String(whole % 60).padStart(2, '0')}`;
  return whole >= 3600 ? `${Math.floor(whole / 3600)}:${mmss.padStart(5, '0')}` : mmss;
}

/** "8.4 s" under a minute, else "12:05" or "1:00:00": a length. */
function formatLength(sec: number): string {
  return sec < 59.95 ? `${sec.toFixed(1)} s` : formatClock(sec);
}

/** Time-axis label: a clock time, or a position to the tenth when the steps are under a second. */
function formatTick(sec: number, stepSec: number): string {
  return stepSec < 1 ? formatTime(sec) : formatClock(sec);
}

/** "72 %", "0.8 %", "0.012 %": two significant digits. */
function formatShare(share: number): string {
  return share === 0 ? '0 %' : `${Number((share * 100).toPrecision(2))} %`;
}

/** One decimal with a real minus sign; "–" for digital silence (nothing measurable). */
function formatDb(db: number): string {
  return db <= DB_FLOOR ? '–' : db.toFixed(1).replace('-', '−');
}

function plural(count: number, noun: string, nouns = `${noun}s`): string {
  return `${count} ${count === 1 ? noun : nouns}`;
}

const REASON_LABELS: Record<string, string> = { silence: 'mostly silence', clipping: 'clipping', too_short: 'too short' };

function reasonLabel(reason: string): string {
  return REASON_LABELS[reason] ?? reason.replaceAll('_', ' ');
}

// ---- figures ----

/** Seconds of sound lost, in all and by reason. */
function lostSound(lost: LostSound): { total: number; byReason: [string, number][] } {
  const byReason = Object.entries(lost).filter(([, sec]) => sec > 0);
  return { total: Object.values(lost).reduce((sum, sec) => sum + sec, 0), byReason };
}

type Durations = Pick<SourceQualityReport, 'durationSec' | 'keptSec' | 'droppedSec' | 'soundSec'>;

/** What is neither kept nor dropped: the silences between clips. */
function silenceSec(r: Durations): number {
  return Math.max(0, r.durationSec - r.keptSec - r.droppedSec);
}

/** A cell: its text, and optionally a tooltip. */
interface Cell {
  text: string;
  title?: string;
}

/**
 * One figure of a source: a column of the sources table and an entry of each source's figures; an undefined value
 * (a noise floor that could not be measured) shows as "–".
 */
interface Figure {
  label: string;
  help: string;
  value: (r: SourceQualityReport) => Cell | undefined;
  /** The dataset's figure in the totals row, from all sources' reports. */
  total?: (report: DatasetQualityReport) => Cell | undefined;
}

function lengthWithShare(sec: number, of: number): Cell {
  return { text: formatLength(sec), title: of > 0 ? `${formatShare(sec / of)} of ${formatLength(of)}` : '' };
}

/** A length with its share of the source's (in the totals row: the dataset's) length. */
function lengthFigure(label: string, help: string, seconds: (r: Durations) => number): Figure {
  return { label, help, value: (r) => lengthWithShare(seconds(r), r.durationSec), total: (d) => lengthWithShare(seconds(d.total), d.total.durationSec) };
}

function lostCell(lost: LostSound): Cell {
  const { total, byReason } = lostSound(lost);
  return { text: formatLength(total), title: byReason.map(([reason, sec]) => `${reasonLabel(reason)}: ${formatLength(sec)}`).join(', ') };
}

const FIGURES: readonly Figure[] = [
  {
    label: 'length',
    help: 'Length of the source',
    value: (r) => ({ text: formatLength(r.durationSec) }),
    total: (d) => ({ text: formatLength(d.total.durationSec) }),
  },
  lengthFigure('sound', 'Seconds of sound (not silence) in the source', (r) => r.soundSec),
  lengthFigure('kept', 'Audio in kept clips', (r) => r.keptSec),
  {
    label: 'sound kept',
    help: 'Sound inside kept clips, and its share of all the sound',
    value: (r) => lengthWithShare(r.keptSoundSec, r.soundSec),
    total: (d) => lengthWithShare(d.total.keptSoundSec, d.total.soundSec),
  },
  {
    label: 'sound lost',
    help: 'Sound that is in no kept clip, by reason',
    value: (r) => lostCell(r.lostSoundSec),
    total: (d) => lostCell(d.total.lostSoundSec),
  },
  lengthFigure('dropped', 'Audio in stretches that were cut out and dropped (see the reasons under each source)', (r) => r.droppedSec),
  lengthFigure('silence', 'Audio in neither a kept clip nor a dropped stretch: the silences between clips', silenceSec),
  {
    label: 'clips',
    help: 'Kept clips (shortest, median, longest)',
    value: (r) => ({ text: String(r.clips.count), title: r.clips.count === 0 ? '' : `${r.clips.minSec.toFixed(1)}–${r.clips.maxSec.toFixed(1)} s, median ${r.clips.medianSec.toFixed(1)} s` }),
    total: (d) => ({ text: String(d.total.clips.count) }),
  },
  {
    label: 'clipped',
    help: 'Share of samples at full scale in the original (clipping)',
    value: (r) => ({ text: formatShare(r.clippedShare) }),
    total: (d) => ({ text: formatShare(d.total.clippedShare) }),
  },
  { label: 'peak dBFS', help: 'Sample peak of the original', value: (r) => ({ text: formatDb(r.peakDbfs) }) },
  { label: 'noise dBFS', help: 'Noise floor: the level of the pauses', value: (r) => ({ text: formatDb(r.noiseFloorDbfs) }) },
  { label: 'SNR dB', help: 'How far the voice stands above the noise floor', value: (r) => ({ text: r.snrDb === 0 && r.noiseFloorDbfs <= DB_FLOOR ? '–' : r.snrDb.toFixed(1) }) },
  { label: 'LUFS', help: 'Integrated loudness of the original (before normalisation)', value: (r) => ({ text: formatDb(r.loudnessLufs) }) },
];

function cellHtml(tag: 'td' | 'th' | 'dd', cell: Cell | undefined, className = 'num'): string {
  if (cell === undefined) return `<${tag} class="${className}">–</${tag}>`;
  const title = cell.title ? ` title="${escapeHtml(cell.title)}"` : '';
  return `<${tag} class="${className}"${title}>${escapeHtml(cell.text)}</${tag}>`;
}

// ---- the timeline of a source ----

export type RegionKind = 'kept' | 'dropped' | 'silence';

export interface Region {
  kind: RegionKind;
  startSec: number;
  endSec: number;
  /** Kept: the clip; dropped: the stretch as reported. */
  segment?: Segment;
  drop?: DroppedClip;
  /** Kept clips and dropped stretches are numbered in time order, each kind from 1; silences are 0. */
  number: number;
}

/** Kept clips, dropped stretches and the silences between them, in time order, covering [0, duration]. */
export function sourceTimeline(durationSec: number, segments: readonly Segment[], dropped: readonly DroppedClip[]): Region[] {
  const kept = [...segments].sort((a, b) => a.startSec - b.startSec).map((segment, i): Region => ({ kind: 'kept', startSec: segment.startSec, endSec: segment.endSec, segment, number: i + 1 }));
  const drops = [...dropped].sort((a, b) => a.startSec - b.startSec).map((drop, i): Region => ({ kind: 'dropped', startSec: drop.startSec, endSec: drop.endSec, drop, number: i + 1 }));
  const covered = [...kept, ...drops].sort((a, b) => a.startSec - b.startSec);
  const regions: Region[] = [];
  let cursor = 0;
  const silenceUntil = (until: number): void => {
    if (until - cursor >= SILENCE_MIN_SEC) regions.push({ kind: 'silence', startSec: cursor, endSec: until, number: 0 });
  };
  for (const region of covered) {
    silenceUntil(region.startSec);
    regions.push(region);
    cursor = Math.max(cursor, region.endSec);
  }
  silenceUntil(durationSec);
  return regions;
}

/** The clip file's URL relative to the page's folder, every path segment percent-encoded. */
export function clipHref(projectDir: string, file: string): string {
  return relativeHref(path.dirname(htmlReportPath(projectDir)), fromProject(projectDir, file));
}

function regionAnchor(sourceId: string, region: Region): string | undefined {
  if (region.kind === 'kept') return `clip-${region.segment!.id}`;
  if (region.kind === 'dropped') return `drop-${sourceId}-${region.number}`;
  return undefined;
}

function regionTitle(region: Region): string {
  const span = `${formatTime(region.startSec)}–${formatTime(region.endSec)} (${formatLength(region.endSec - region.startSec)})`;
  if (region.kind === 'kept') return `kept clip ${region.number} · ${span}`;
  if (region.kind === 'dropped') return `dropped, ${reasonLabel(region.drop!.reason)} · ${span}: ${region.drop!.detail}`;
  return `silence · ${span}`;
}

function pct(sec: number, durationSec: number): string {
  return `${((100 * sec) / durationSec).toFixed(3)}%`;
}

/**
 * The top half of a mirrored level shape as a step path in a viewBox of (columns × 100), centre line at y = 50; columns
 * of the same height share one step.
 */
function envelopePath(levels: Float32Array): string {
  let d = 'M0 50';
  let height = '';
  let run = 0;
  for (const db of levels) {
    const next = (50 - 50 * levelShare(db)).toFixed(1);
    if (next !== height && run > 0) {
      d += `V${height}h${run}`;
      run = 0;
    }
    height = next;
    run += 1;
  }
  return `${d}${run > 0 ? `V${height}h${run}` : ''}V50Z`;
}

/** Where a level sits on the waveform's scale: 0 at the centre line (WAVEFORM_FLOOR_DB and below), 1 at the edge (0 dBFS). */
function levelShare(db: number): number {
  return Math.min(1, Math.max(0, (db - WAVEFORM_FLOOR_DB) / -WAVEFORM_FLOOR_DB));
}

/** How far above the centre line (px) a level is drawn. */
function levelY(db: number): number {
  return (WAVE_HEIGHT / 2) * levelShare(db);
}

function timeTicks(durationSec: number): { stepSec: number; ticks: number[] } {
  const stepSec = TICK_STEPS_SEC.find((s) => durationSec / s <= MAX_TICKS) ?? Math.ceil(durationSec / MAX_TICKS / 3600) * 3600;
  const ticks: number[] = [];
  for (let i = 0; i * stepSec <= durationSec + 1e-9; i++) ticks.push(i * stepSec);
  return { stepSec, ticks };
}

function waveformSummary(regions: readonly Region[]): string {
  const total = (kind: RegionKind): number => regions.filter((r) => r.kind === kind).reduce((sum, r) => sum + (r.endSec - r.startSec), 0);
  const count = (kind: RegionKind): number => regions.filter((r) => r.kind === kind).length;
  return `${plural(count('kept'), 'kept clip')} (${formatLength(total('kept'))}), ${plural(count('dropped'), 'dropped stretch', 'dropped stretches')} (${formatLength(total('dropped'))}), ${formatLength(total('silence'))} of silence between them.`;
}

/** The fills of the regions, defined once for every waveform: the lane in full colour, a gap, the tint. */
function regionFills(): string {
  const laneEnd = (LANE_HEIGHT / AXIS_TOP).toFixed(4);
  const waveStart = (WAVE_TOP / AXIS_TOP).toFixed(4);
  const gradients = (['kept', 'dropped', 'silence'] as const).map(
    (kind) =>
      `<linearGradient id="fill-${kind}" x2="0" y2="1"><stop offset="${laneEnd}" stop-color="${COLOURS[kind]}"/>` +
      `<stop offset="${laneEnd}" stop-color="${COLOURS[kind]}" stop-opacity="0"/><stop offset="${waveStart}" stop-color="${COLOURS[kind]}" stop-opacity="0"/>` +
      `<stop offset="${waveStart}" stop-color="${COLOURS[kind]}" stop-opacity="${TINT_OPACITY[kind]}"/></linearGradient>`,
  );
  return `<svg class="defs" width="0" height="0" aria-hidden="true"><defs>${gradients.join('')}</defs></svg>`;
}

function waveformSvg(source: SourceQualityReport, regions: readonly Region[], envelope: LevelEnvelope | undefined): string {
  const id = escapeHtml(source.sourceId);
  const duration = Math.max(source.durationSec, 1e-3);
  const parts: string[] = [
    `<svg class="waveform" data-source="${id}" width="100%" height="${SVG_HEIGHT}" role="img" aria-labelledby="wf-${id}-t wf-${id}-d">`,
    `<title id="wf-${id}-t">Level over time of ${escapeHtml(source.path)}</title>`,
    `<desc id="wf-${id}-d">${escapeHtml(waveformSummary(regions))}${source.noiseFloorDbfs > DB_FLOOR ? ` Noise floor (dashed) ${formatDb(source.noiseFloorDbfs)} dBFS.` : ''}${envelope === undefined ? ' No level map is saved for this source.' : ''}</desc>`,
    `<rect class="wave-bg" x="0" y="${WAVE_TOP}" width="100%" height="${WAVE_HEIGHT}"/>`,
  ];
  for (const region of regions) {
    const x = pct(region.startSec, duration);
    const width = pct(region.endSec - region.startSec, duration);
    const anchor = regionAnchor(source.sourceId, region);
    // One rect per region, lane and tint: its fill is a gradient with hard stops (see regionFills).
    const shapes =
      `<title>${escapeHtml(regionTitle(region))}</title>` +
      `<rect class="${region.kind}" x="${x}" width="${width}" height="${AXIS_TOP}"/>` +
      (region.kind === 'kept' && (region.endSec - region.startSec) / duration >= LABEL_MIN_SHARE
        ? `<text class="lane-label" x="${pct((region.startSec + region.endSec) / 2, duration)}" y="${LANE_HEIGHT - 4}">${region.number}</text>`
        : '');
    parts.push(anchor === undefined ? `<g class="region">${shapes}</g>` : `<a class="region" href="#${escapeHtml(anchor)}">${shapes}</a>`);
  }
  const mid = WAVE_TOP + WAVE_HEIGHT / 2;
  for (const db of WAVEFORM_GRID_DB) {
    const offset = levelY(db);
    for (const y of [mid - offset, mid + offset]) parts.push(`<line class="grid" x1="0" x2="100%" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}"/>`);
  }
  if (envelope !== undefined && envelope.peakDb.length > 0) {
    const width = ((100 * Math.min(envelope.spanSec, duration)) / duration).toFixed(3);
    const shape = `wf-${id}-shape`;
    parts.push(
      `<svg class="envelope" x="0" y="${WAVE_TOP}" width="${width}%" height="${WAVE_HEIGHT}" viewBox="0 0 ${envelope.peakDb.length} 100" preserveAspectRatio="none" aria-hidden="true">`,
      // Fills as attributes: the mirrored copy (<use>) does not match the page's CSS selectors.
      `<g id="${shape}"><path class="peak" fill="${LEVEL_COLOURS.peak}" d="${envelopePath(envelope.peakDb)}"/><path class="mean" fill="${LEVEL_COLOURS.mean}" d="${envelopePath(envelope.meanDb)}"/></g>`,
      `<use href="#${shape}" transform="matrix(1 0 0 -1 0 100)"/></svg>`,
    );
  } else {
    parts.push(`<text class="no-levels" x="50%" y="${mid + 4}">no level map saved for this source</text>`);
  }
  if (source.noiseFloorDbfs > DB_FLOOR) {
    const offset = levelY(source.noiseFloorDbfs);
    parts.push(
      `<g class="floor">`,
      `<line x1="0" x2="100%" y1="${(mid - offset).toFixed(1)}" y2="${(mid - offset).toFixed(1)}"/>`,
      `<line x1="0" x2="100%" y1="${(mid + offset).toFixed(1)}" y2="${(mid + offset).toFixed(1)}"/></g>`,
    );
  }
  // The level scale, over the shape: the edges are 0 dBFS, the centre line WAVEFORM_FLOOR_DB.
  for (const db of [0, ...WAVEFORM_GRID_DB]) parts.push(`<text class="grid-label" x="100%" dx="-3" y="${(mid - levelY(db) + 9).toFixed(1)}">${String(db).replace('-', '−')} dB</text>`);
  parts.push(`<line class="axis" x1="0" x2="100%" y1="${AXIS_TOP}" y2="${AXIS_TOP}"/>`);
  const { stepSec, ticks } = timeTicks(duration);
  for (const [i, t] of ticks.entries()) {
    const anchor = i === 0 ? 'start' : t / duration > 0.97 ? 'end' : 'middle';
    parts.push(`<line class="tick" x1="${pct(t, duration)}" x2="${pct(t, duration)}" y1="${AXIS_TOP}" y2="${AXIS_TOP + 4}"/>`, `<text class="tick-label" text-anchor="${anchor}" x="${pct(t, duration)}" y="${AXIS_TOP + 15}">${formatTick(t, stepSec)}</text>`);
  }
  parts.push('</svg>');
  return parts.join('');
}

/** Kept clips (with a player each) and dropped stretches (with the reason), in time order. */
function clipTable(projectDir: string, source: SourceQualityReport, regions: readonly Region[], excluded: ReadonlyMap<string, string>): string {
  const rows = regions
    .filter((r) => r.kind !== 'silence')
    .map((region) => {
      const anchor = escapeHtml(regionAnchor(source.sourceId, region)!);
      const times = `<td>${formatTime(region.startSec)}</td><td>${formatTime(region.endSec)}</td><td>${formatLength(region.endSec - region.startSec)}</td>`;
      if (region.kind === 'kept') {
        const segment = region.segment!;
        const name = escapeHtml(path.posix.basename(segment.file));
        const label = `clip ${region.number}, ${formatTime(region.startSec)} to ${formatTime(region.endSec)}`;
        const why = excluded.get(segment.id);
        return (
          `<tr id="${anchor}" class="kept${why === undefined ? '' : ' excluded'}"><td><span class="mark kept"></span>${region.number}</td>${times}` +
          `<td>kept${why === undefined ? '' : `, <b>not used for training</b>: ${escapeHtml(why)}`} · <span class="file">${name}</span></td>` +
          `<td><audio controls preload="none" src="${escapeHtml(clipHref(projectDir, segment.file))}" aria-label="${label}"></audio></td></tr>`
        );
      }
      const drop = region.drop!;
      return (
        `<tr id="${anchor}" class="dropped"><td><span class="mark dropped"></span>×${region.number}</td>${times}` +
        `<td colspan="2">dropped, <b>${escapeHtml(reasonLabel(drop.reason))}</b>: ${escapeHtml(drop.detail)}</td></tr>`
      );
    });
  if (rows.length === 0) return '<p class="empty">Nothing was cut from this source.</p>';
  const kept = regions.filter((r) => r.kind === 'kept').length;
  const dropped = regions.filter((r) => r.kind === 'dropped').length;
  return (
    `<details class="clips"${rows.length <= OPEN_LIST_ROWS ? ' open' : ''}><summary>${plural(kept, 'clip')} kept, ${plural(dropped, 'stretch', 'stretches')} dropped</summary>` +
    `<table class="clips"><thead><tr><th class="num">#</th><th class="num">start</th><th class="num">end</th><th class="num">length</th><th>what</th><th>listen</th></tr></thead>` +
    `<tbody>${rows.join('')}</tbody></table></details>`
  );
}

function warningList(warnings: readonly QualityWarning[]): string {
  if (warnings.length === 0) return '';
  const items = warnings.map((w) => `<li><span class="msg">${escapeHtml(w.message)}</span><span class="sugg">${escapeHtml(w.suggestion)}</span></li>`);
  return `<ul class="warnings">${items.join('')}</ul>`;
}

function sourceSection(
  projectDir: string,
  source: SourceQualityReport,
  segments: readonly Segment[],
  envelope: LevelEnvelope | undefined,
  excluded: ReadonlyMap<string, string>,
): string {
  const regions = sourceTimeline(source.durationSec, segments, source.dropped);
  const strip = FIGURES.map((f) => `<div><dt title="${escapeHtml(f.help)}">${escapeHtml(f.label)}</dt>${cellHtml('dd', f.value(source), '')}</div>`).join('');
  return (
    `<section class="source" id="src-${escapeHtml(source.sourceId)}">` +
    `<h3><span class="path">${escapeHtml(source.path)}</span> <span class="kind">${escapeHtml(source.kind)}</span> <span class="id">${escapeHtml(source.sourceId)}</span></h3>` +
    waveformSvg(source, regions, envelope) +
    `<dl class="figures">${strip}</dl>` +
    warningList(source.warnings) +
    clipTable(projectDir, source, regions, excluded) +
    '</section>'
  );
}

// ---- the page ----

const SETTING_LABELS: Record<string, (value: unknown) => string> = {
  sampleRate: (v) => `${Number(v) / 1000} kHz FLAC`,
  denoise: (v) => (v === true ? 'denoise on' : 'denoise off'),
  highpassHz: (v) => `high-pass ${String(v)} Hz`,
  targetLufs: (v) => `${formatDb(Number(v))} LUFS`,
  minClipSec: (v) => `shortest clip ${String(v)} s`,
  maxClipSec: (v) => `longest ${String(v)} s`,
};

/** Every setting, known ones in words, others as "name value", so settings added later show up too. */
function settingsLine(settings: object): string {
  return Object.entries(settings)
    .map(([key, value]) => SETTING_LABELS[key]?.(value) ?? `${key.replace(/[A-Z]/g, (c) => ` ${c.toLowerCase()}`)} ${String(value)}`)
    .join(' · ');
}

function sourcesTable(report: DatasetQualityReport, figures: readonly Figure[]): string {
  const head = `<tr><th>source</th><th>kind</th>${figures.map((f) => `<th class="num" title="${escapeHtml(f.help)}">${escapeHtml(f.label)}</th>`).join('')}<th class="num">warnings</th></tr>`;
  const rows = report.sources.map(
    (r) =>
      `<tr><td><a href="#src-${escapeHtml(r.sourceId)}">${escapeHtml(r.path)}</a></td><td>${escapeHtml(r.kind)}</td>` +
      figures.map((f) => cellHtml('td', f.value(r))).join('') +
      `<td class="num${r.warnings.length > 0 ? ' warn' : ''}">${r.warnings.length}</td></tr>`,
  );
  const totals = `<tr><th>all sources</th><th></th>${figures.map((f) => (f.total === undefined ? '<td></td>' : cellHtml('td', f.total(report)))).join('')}<td class="num">${report.sources.reduce((n, r) => n + r.warnings.length, 0)}</td></tr>`;
  return `<table class="sources"><thead>${head}</thead><tbody>${rows.join('')}</tbody><tfoot>${totals}</tfoot></table>`;
}

function datasetSummary(report: DatasetQualityReport): string {
  const t = report.total;
  const c = t.clips;
  const tiles: [string, string, string][] = [
    ['kept', formatLength(t.keptSec), `of ${formatLength(t.durationSec)}${t.durationSec > 0 ? ` (${formatShare(t.keptSec / t.durationSec)})` : ''}`],
    ['clips', String(c.count), c.count === 0 ? 'none kept' : `${c.minSec.toFixed(1)}–${c.maxSec.toFixed(1)} s, median ${c.medianSec.toFixed(1)} s`],
    ['singing', formatShare(t.singingShare), `${formatLength(t.singingSec)} singing, ${formatLength(t.speechSec)} speech`],
    ['clipped samples', formatShare(t.clippedShare), 'in the originals'],
  ];
  const most = Math.max(1, ...c.histogram.map((b) => b.count));
  const bars = c.histogram
    .map((b) => `<div class="bar" title="${b.count} clips of ${b.fromSec}–${b.toSec} s"><span style="height:${Math.round((100 * b.count) / most)}%"></span><em>${b.fromSec}–${b.toSec}</em></div>`)
    .join('');
  return (
    `<div class="tiles">${tiles.map(([label, value, note]) => `<div class="tile"><div class="label">${label}</div><div class="value">${escapeHtml(value)}</div><div class="note">${escapeHtml(note)}</div></div>`).join('')}` +
    `<div class="tile hist" role="img" aria-label="clip lengths: ${escapeHtml(c.histogram.map((b) => `${b.count} of ${b.fromSec}–${b.toSec} s`).join(', '))}"><div class="label">clip lengths (s)</div><div class="bars">${bars}</div></div></div>`
  );
}

const LEGEND =
  '<div class="legend" aria-label="legend"><span><i class="kept"></i>kept clip (click: its player)</span><span><i class="dropped"></i>dropped stretch (reason in the list)</span>' +
  '<span><i class="silence"></i>silence between clips</span><span><i class="level"></i>level: loudest / mean of each column, dBFS scale</span><span><i class="floor"></i>noise floor</span></div>';

const STYLE = `
:root{color-scheme:light;--kept:${COLOURS.kept};--dropped:${COLOURS.dropped};--silence:${COLOURS.silence};--ink:#212529;--muted:#6c757d;--line:#dee2e6}
*{box-sizing:border-box}
body{margin:0;padding:16px 20px 40px;font:13px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--ink);background:#fff}
h1{font-size:18px;margin:0 0 2px}h2{font-size:15px;margin:22px 0 8px}h3{font-size:14px;margin:0 0 6px;font-weight:600}
.meta{color:var(--muted);margin:0 0 12px}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table{border-collapse:collapse}th,td{padding:3px 8px;border-bottom:1px solid var(--line);vertical-align:middle}th{font-weight:600;text-align:left;background:#f8f9fa}
table.sources tfoot th,table.sources tfoot td{border-top:2px solid #adb5bd;font-weight:600}
td.warn{color:var(--dropped);font-weight:600}
.tiles{display:flex;flex-wrap:wrap;gap:10px}.tile{border:1px solid var(--line);border-radius:6px;padding:8px 12px;min-width:150px}
.tile .label{color:var(--muted);font-size:12px}.tile .value{font-size:20px;font-weight:600;font-variant-numeric:tabular-nums}.tile .note{color:var(--muted);font-size:12px}
.bars{display:flex;gap:4px;align-items:flex-end;height:44px;margin-top:4px}.bar{width:34px;height:100%;display:flex;flex-direction:column;justify-content:flex-end;text-align:center}
.bar span{display:block;background:var(--kept);min-height:1px}.bar em{font-style:normal;font-size:10px;color:var(--muted)}
ul.warnings{margin:6px 0;padding:0;list-style:none}ul.warnings li{border-left:3px solid var(--dropped);background:#fff4e6;padding:4px 8px;margin:4px 0}
ul.warnings .msg{display:block}ul.warnings .sugg{display:block;color:#495057}ul.warnings .sugg::before{content:"→ "}
.legend{position:sticky;top:0;z-index:1;background:rgba(255,255,255,.95);border-bottom:1px solid var(--line);padding:6px 0;display:flex;flex-wrap:wrap;gap:16px;color:#495057}
.legend i{display:inline-block;width:14px;height:10px;margin-right:5px;vertical-align:-1px;border-radius:2px}
.legend i.kept{background:var(--kept)}.legend i.dropped{background:var(--dropped)}.legend i.silence{background:var(--silence)}.legend i.level{background:${LEVEL_COLOURS.mean}}
.legend i.floor{height:0;border-top:2px dashed #c92a2a;border-radius:0}
section.source{margin:18px 0 26px;padding-top:4px}
h3 .kind{font-weight:400;color:var(--muted);font-size:12px;border:1px solid var(--line);border-radius:3px;padding:0 4px}h3 .id{font-weight:400;color:#adb5bd;font-size:11px;font-family:ui-monospace,monospace}
svg.waveform{display:block;overflow:visible}
.grid,.floor,.axis,.tick,.tick-label{pointer-events:none}
svg.defs{position:absolute}
.wave-bg{fill:#fcfcfd}.region rect{stroke:#fff;stroke-width:.5px}
.region .kept{fill:url(#fill-kept)}.region .dropped{fill:url(#fill-dropped)}.region .silence{fill:url(#fill-silence)}
a.region:hover rect,a.region:focus rect{opacity:.7}
.lane-label{fill:#fff;font-size:10px;font-weight:600;text-anchor:middle;pointer-events:none}
.envelope{pointer-events:none}
.grid{stroke:#000;stroke-opacity:.08}.grid-label{font-size:9px;fill:#495057;text-anchor:end;paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round;pointer-events:none}
.floor line{stroke:#c92a2a;stroke-width:1px;stroke-dasharray:4 3;stroke-opacity:.7}
.axis,.tick{stroke:#adb5bd}.tick-label{font-size:10px;fill:var(--muted)}
.no-levels{font-size:12px;fill:var(--muted);text-anchor:middle}
dl.figures{display:flex;flex-wrap:wrap;gap:2px 18px;margin:8px 0 4px}dl.figures div{display:flex;flex-direction:column}
dl.figures dt{color:var(--muted);font-size:11px}dl.figures dd{margin:0;font-variant-numeric:tabular-nums;font-weight:600}
details.clips summary{cursor:pointer;color:#495057;margin:6px 0}
table.clips td{padding:1px 8px}table.clips td:nth-child(-n+4){text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}table.clips audio{height:26px;width:260px;display:block}
table.clips tr.dropped td{color:#495057;background:#fffaf5}
tr:target td{background:#fff3bf !important}
.mark{display:inline-block;width:8px;height:8px;border-radius:2px;margin-right:5px}.mark.kept{background:var(--kept)}.mark.dropped{background:var(--dropped)}
tr.excluded{color:var(--muted)}tr.excluded .mark.kept{background:none;outline:1px solid var(--kept)}
.file{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px;color:#495057}
.empty{color:var(--muted)}
.failed li{margin:4px 0}.failed .sugg{display:block;color:#495057}.failed .sugg::before{content:"→ "}
footer{margin-top:30px;color:var(--muted);font-size:12px}
`;

/**
 * Nothing may load from outside the project: styles are inline, images only data: URIs, media only files beside the page
 * (file: when opened from disk), and there is no script at all.
 */
const CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; media-src 'self' file:";

/** The whole page: pure, the same input gives the same bytes. */
export function renderReportHtml(input: ReportPageInput): string {
  const { report, projectDir } = input;
  const project = path.basename(path.resolve(projectDir));
  const bySource = new Map<string, Segment[]>();
  for (const segment of input.segments) bySource.set(segment.sourceId, [...(bySource.get(segment.sourceId) ?? []), segment]);
  const failed = input.failed ?? [];
  const body = [
    `<header><h1>Quality report · ${escapeHtml(project)}</h1>`,
    `<p class="meta">${escapeHtml(`${plural(report.sources.length, 'source')} · generated ${report.generatedAt.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')} · ${settingsLine(report.settings)}`)}</p></header>`,
    '<section id="dataset"><h2>Dataset</h2>',
    datasetSummary(report),
    warningList(report.warnings),
    '</section>',
  ];
  if (failed.length > 0) {
    const items = failed.map((f) => `<li><b>${escapeHtml(f.path)}</b>: ${escapeHtml(f.reason ?? 'failed')}${f.suggestion === undefined ? '' : `<span class="sugg">${escapeHtml(f.suggestion)}</span>`}</li>`);
    body.push(`<section class="failed"><h2>Not processed (${failed.length})</h2><ul>${items.join('')}</ul></section>`);
  }
  if (report.sources.length === 0) {
    body.push('<p class="empty">No source has a report yet.</p>');
  } else {
    body.push('<section id="sources"><h2>Sources</h2>', sourcesTable(report, FIGURES), '</section>', LEGEND, regionFills());
    for (const source of report.sources) body.push(sourceSection(projectDir, source, bySource.get(source.sourceId) ?? [], input.levels.get(source.sourceId), input.excluded ?? new Map()));
  }
  body.push('<footer>Written by voicestudio preprocess. The same figures are in quality-report.json beside this page.</footer>');
  return htmlPage({ title: `Quality report · ${project}`, policy: CONTENT_SECURITY_POLICY, style: STYLE, body: body.join('\n') });
}

/**
 * Renders the page for the report and writes it atomically; returns its path. Each source's level map is read from
 * its saved analysis and reduced before the next is read, so many long sources never sit in memory together.
 */
export async function writeReportHtml(projectDir: string, content: ReportPageContent): Promise<string> {
  const levels = new Map<string, LevelEnvelope>();
  for (const source of content.report.sources) {
    const analysis = await readAnalysisFile(analysisPath(projectDir, source.sourceId));
    if (analysis !== undefined) levels.set(source.sourceId, levelEnvelope(analysis.rmsDb, analysis.hopSec));
  }
  const file = htmlReportPath(projectDir);
  await writeAtomically(file, renderReportHtml({ ...content, projectDir, levels }));
  return file;
}
