/**
 * The audition page: <model version>/audition/index.html, where every saved epoch's conversions of the same guide
 * phrases are heard, compared and scored, and the recommended epoch is marked. It is offline and self-contained: inline
 * CSS, an inline SVG chart, one small inline script (the A/B player, allowed by its hash), audio and spectrogram pictures
 * as files linked relatively; nothing is fetched from anywhere else.
 *
 * renderAuditionHtml is pure; writeAuditionPage draws the spectrograms the page shows (cached by the audio's content)
 * and writes the page atomically.
 */
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { commitTemp, tempSibling } from '../util/files.js';
import type { FfmpegTools } from './ffmpeg.js';
import { relativeHref } from './href.js';
import { escapeHtml, htmlPage } from './page.js';
import { SPECTROGRAM_HEIGHT, SPECTROGRAM_WIDTH, writeSpectrograms } from './spectrogram.js';

export interface AuditionScores {
  /** Speaker similarity to the singer: cosine of the voice embeddings, 0..1. */
  similarity: number;
  /** Pitch error of the output against the guide (pitch shift applied), RMS in cents. */
  f0RmseCents: number;
  /** Share of frames where guide and output agree on voiced or unvoiced, 0..1. */
  voicingAgreement: number;
  /** DNSMOS naturalness estimate, 1..5, when one was measured. */
  naturalness?: number;
}

export interface AuditionPhraseScore extends AuditionScores {
  guideId: string;
  /** The converted phrase, absolute path. */
  file: string;
}

/** One saved epoch: its phrases and their means. */
export interface AuditionEpoch extends AuditionScores {
  epoch: number;
  step?: number;
  phrases: AuditionPhraseScore[];
}

export interface AuditionGuide {
  id: string;
  label: string;
  /** The guide as the model heard it (pitch shift applied), absolute path. */
  file: string;
  /** The guide singer's own similarity to the target: what a conversion must beat. */
  baselineSimilarity: number;
}

export interface AuditionPageInput {
  /** name@version */
  model: string;
  /** ISO 8601. */
  createdAt: string;
  guides: AuditionGuide[];
  /** Ascending by epoch. */
  epochs: AuditionEpoch[];
  recommended: { epoch: number; reason: string };
  /** Where similarity stops rising, when it does. */
  plateau?: { epoch: number; reason: string };
  naturalness: { available: boolean; note?: string };
  /** What the guides are, when that changes how to read the scores. */
  guideNote?: string;
  /** Another model version's audition of the same guides, for A/B between versions. */
  compare?: { model: string; epochs: AuditionEpoch[] };
}

/** The files the page links to, beside the input. */
export interface AuditionPageFiles {
  /** The page's folder: every link is relative to it. */
  pageDir: string;
  /** Audio file → its spectrogram picture; a file without one is shown without. */
  spectrograms: ReadonlyMap<string, string>;
}

export const AUDITION_PAGE_FILE = 'index.html';
/** The spectrogram pictures' folder, inside the page's folder. */
export const SPECTROGRAMS_DIR = 'spectrograms';

// ---- figures ----

type ScoreKey = keyof AuditionScores;

interface Metric {
  key: ScoreKey;
  label: string;
  /** Short name in a phrase's scores. */
  short: string;
  help: string;
  format: (value: number) => string;
}

function percent(digits: number): (value: number) => string {
  return (value) => `${(value * 100).toFixed(digits)} %`;
}

const METRICS: readonly Metric[] = [
  {
    key: 'similarity',
    label: 'similarity',
    short: 'sim',
    help: 'Speaker similarity to the singer: cosine between voice embeddings of the output and of held-out clips of the singer (higher is better)',
    format: percent(1),
  },
  {
    key: 'f0RmseCents',
    label: 'pitch error',
    short: 'F0',
    help: 'Pitch error against the guide, RMS in cents (lower is better; 100 cents are a semitone)',
    format: (cents) => `${cents < 10 ? cents.toFixed(1) : Math.round(cents)} cents`,
  },
  {
    key: 'voicingAgreement',
    label: 'voicing',
    short: 'voiced',
    help: 'Share of frames where guide and output agree on voiced or unvoiced (higher is better)',
    format: percent(0),
  },
  { key: 'naturalness', label: 'naturalness', short: 'MOS', help: 'DNSMOS estimate of naturalness, 1 to 5 (higher is better)', format: (mos) => mos.toFixed(2) },
];

function formatScore(metric: Metric, value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? '–' : metric.format(value);
}

function metricsShown(input: AuditionPageInput): Metric[] {
  return METRICS.filter((m) => m.key !== 'naturalness' || input.naturalness.available);
}

function mean(values: readonly number[]): number {
  const finite = values.filter(Number.isFinite);
  return finite.length === 0 ? Number.NaN : finite.reduce((sum, v) => sum + v, 0) / finite.length;
}

/** "2026-03-01 14:05:09 UTC" from an ISO time. */
function formatWhen(iso: string): string {
  return iso.replace('T', ' ').replace(/\.\d+/, '').replace(/Z$/, ' UTC');
}

// ---- the chart ----

const CHART = { width: 720, height: 240, left: 58, right: 66, top: 22, bottom: 36 } as const;
const PLOT_RIGHT = CHART.width - CHART.right;
const PLOT_BOTTOM = CHART.height - CHART.bottom;
const MAX_TICKS = 5;

interface Scale {
  lo: number;
  hi: number;
  step: number;
}

/** An axis from lo to hi on round steps (1, 2 or 5 × 10ⁿ), at most about MAX_TICKS of them. */
function roundScale(lo: number, hi: number): Scale {
  const raw = (hi - lo) / MAX_TICKS;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw)!;
  return { lo: Math.floor(lo / step + 1e-9) * step, hi: Math.ceil(hi / step - 1e-9) * step, step };
}

function scaleTicks(scale: Scale): number[] {
  const ticks: number[] = [];
  for (let i = 0; scale.lo + i * scale.step <= scale.hi + scale.step * 1e-6; i++) ticks.push(scale.lo + i * scale.step);
  return ticks;
}

/** Similarities span at least 10 points of 0..1, so small differences are not blown up, with room below and above. */
function similarityScale(values: readonly number[]): Scale {
  const finite = values.filter(Number.isFinite);
  const lo = Math.min(...finite, 1);
  const hi = Math.max(...finite, 0);
  const middle = (lo + hi) / 2;
  const margin = 0.02;
  const [from, to] = hi - lo >= 0.1 ? [lo - margin, hi + margin] : [middle - 0.05 - margin, middle + 0.05 + margin];
  const scale = roundScale(Math.max(0, from), Math.min(1, to));
  return { ...scale, lo: Math.max(0, scale.lo), hi: Math.min(1, scale.hi) };
}

function centsScale(values: readonly number[]): Scale {
  return roundScale(0, Math.max(1, ...values.filter(Number.isFinite)));
}

function yOf(scale: Scale, value: number): number {
  return PLOT_BOTTOM - ((value - scale.lo) / (scale.hi - scale.lo)) * (PLOT_BOTTOM - CHART.top);
}

interface Point {
  epoch: number;
  value: number;
}

/** A line through the points (broken where a value is missing) and a marker on each, titled. */
function seriesSvg(points: readonly Point[], x: (epoch: number) => number, scale: Scale, className: string, title: (p: Point) => string, marker: 'circle' | 'square'): string {
  let d = '';
  let drawing = false;
  const markers: string[] = [];
  for (const point of points) {
    if (!Number.isFinite(point.value)) {
      drawing = false;
      continue;
    }
    const px = x(point.epoch).toFixed(1);
    const py = yOf(scale, point.value).toFixed(1);
    d += `${drawing ? 'L' : 'M'}${px} ${py}`;
    drawing = true;
    const tip = `<title>${escapeHtml(title(point))}</title>`;
    markers.push(
      marker === 'circle'
        ? `<circle class="point ${className}" data-epoch="${point.epoch}" cx="${px}" cy="${py}" r="4">${tip}</circle>`
        : `<rect class="point ${className}" data-epoch="${point.epoch}" x="${(Number(px) - 3.5).toFixed(1)}" y="${(Number(py) - 3.5).toFixed(1)}" width="7" height="7">${tip}</rect>`,
    );
  }
  return `<path class="line ${className}" d="${d}"/>${markers.join('')}`;
}

function chartSvg(input: AuditionPageInput): string {
  const { epochs } = input;
  const compare = input.compare?.epochs ?? [];
  const all = [...epochs, ...compare].map((e) => e.epoch);
  const first = Math.min(...all);
  const last = Math.max(...all);
  const x = (epoch: number): number => (last === first ? (CHART.left + PLOT_RIGHT) / 2 : CHART.left + ((epoch - first) / (last - first)) * (PLOT_RIGHT - CHART.left));
  const baseline = mean(input.guides.map((g) => g.baselineSimilarity));
  const similarity = similarityScale([...epochs, ...compare].map((e) => e.similarity).concat(baseline));
  const cents = centsScale([...epochs, ...compare].map((e) => e.f0RmseCents));
  const sim = METRICS[0]!;
  const f0 = METRICS[1]!;
  const parts: string[] = [
    `<svg class="chart" viewBox="0 0 ${CHART.width} ${CHART.height}" width="${CHART.width}" height="${CHART.height}" role="img" aria-labelledby="chart-t chart-d">`,
    `<title id="chart-t">Scores over epochs of ${escapeHtml(input.model)}</title>`,
    `<desc id="chart-d">${escapeHtml(
      `Similarity (left axis) and pitch error (right axis) of each of ${epochs.length} epochs; recommended epoch ${input.recommended.epoch}` +
        (Number.isFinite(baseline) ? `; the guides' own similarity to the singer is ${sim.format(baseline)}.` : '.'),
    )}</desc>`,
  ];
  for (const tick of scaleTicks(similarity)) {
    const y = yOf(similarity, tick).toFixed(1);
    parts.push(`<line class="grid" x1="${CHART.left}" x2="${PLOT_RIGHT}" y1="${y}" y2="${y}"/>`, `<text class="tick sim" x="${CHART.left - 6}" y="${y}" dy="3.5" text-anchor="end">${Math.round(tick * 100)} %</text>`);
  }
  for (const tick of scaleTicks(cents)) {
    parts.push(`<text class="tick f0" x="${PLOT_RIGHT + 6}" y="${yOf(cents, tick).toFixed(1)}" dy="3.5">${Number(tick.toPrecision(6))}</text>`);
  }
  parts.push(
    `<text class="axis-label sim" transform="translate(14 ${(CHART.top + PLOT_BOTTOM) / 2}) rotate(-90)" text-anchor="middle">similarity</text>`,
    `<text class="axis-label f0" transform="translate(${CHART.width - 12} ${(CHART.top + PLOT_BOTTOM) / 2}) rotate(90)" text-anchor="middle">pitch error (cents)</text>`,
    `<line class="axis" x1="${CHART.left}" x2="${PLOT_RIGHT}" y1="${PLOT_BOTTOM}" y2="${PLOT_BOTTOM}"/>`,
  );
  for (const epoch of epochs) {
    const px = x(epoch.epoch).toFixed(1);
    parts.push(`<line class="tick-mark" x1="${px}" x2="${px}" y1="${PLOT_BOTTOM}" y2="${PLOT_BOTTOM + 4}"/>`, `<text class="tick epoch" x="${px}" y="${PLOT_BOTTOM + 16}" text-anchor="middle">${epoch.epoch}</text>`);
  }
  parts.push(`<text class="axis-label" x="${(CHART.left + PLOT_RIGHT) / 2}" y="${CHART.height - 4}" text-anchor="middle">epoch</text>`);
  const marks: [string, { epoch: number } | undefined][] = [
    ['recommended', input.recommended],
    ['plateau', input.plateau],
  ];
  for (const [kind, mark] of marks) {
    if (mark === undefined || !epochs.some((e) => e.epoch === mark.epoch)) continue;
    const px = x(mark.epoch).toFixed(1);
    parts.push(
      `<g class="mark ${kind}" data-epoch="${mark.epoch}"><line x1="${px}" x2="${px}" y1="${CHART.top}" y2="${PLOT_BOTTOM}"/>` +
        `<text x="${px}" y="${kind === 'recommended' ? CHART.top - 8 : CHART.top + 4}" text-anchor="middle">${kind}</text></g>`,
    );
  }
  if (Number.isFinite(baseline)) {
    const y = yOf(similarity, baseline).toFixed(1);
    const who = input.guides.map((g) => `${g.label}: ${sim.format(g.baselineSimilarity)}`).join(', ');
    parts.push(`<line class="baseline" x1="${CHART.left}" x2="${PLOT_RIGHT}" y1="${y}" y2="${y}"><title>${escapeHtml(`The guides' own similarity to the singer (${who})`)}</title></line>`);
  }
  const points = (list: readonly AuditionEpoch[], key: ScoreKey): Point[] => list.map((e) => ({ epoch: e.epoch, value: e[key] ?? Number.NaN }));
  const tip = (model: string, metric: Metric) => (p: Point) => `${model} epoch ${p.epoch}: ${metric.label} ${metric.format(p.value)}`;
  if (input.compare !== undefined) {
    parts.push(
      seriesSvg(points(compare, 'similarity'), x, similarity, 'sim compare', tip(input.compare.model, sim), 'circle'),
      seriesSvg(points(compare, 'f0RmseCents'), x, cents, 'f0 compare', tip(input.compare.model, f0), 'square'),
    );
  }
  parts.push(
    seriesSvg(points(epochs, 'f0RmseCents'), x, cents, 'f0', tip(input.model, f0), 'square'),
    seriesSvg(points(epochs, 'similarity'), x, similarity, 'sim', tip(input.model, sim), 'circle'),
    '</svg>',
  );
  return parts.join('');
}

function chartLegend(input: AuditionPageInput): string {
  const items = [
    '<span><i class="sim"></i>similarity (left)</span>',
    '<span><i class="f0"></i>pitch error (right)</span>',
    '<span><i class="baseline"></i>the guides\' own similarity</span>',
    '<span><i class="recommended"></i>recommended epoch</span>',
  ];
  if (input.plateau !== undefined) items.push('<span><i class="plateau"></i>similarity stops rising</span>');
  if (input.compare !== undefined) items.push(`<span><i class="compare"></i>${escapeHtml(input.compare.model)} (faint)</span>`);
  return `<div class="legend">${items.join('')}</div>`;
}

// ---- the tables ----

/** What the A/B player can play: the guides, or an epoch of this version or of the compared one. */
const GUIDE_TAKE = 'guide';
type TakePrefix = 'e' | 'c';

function takeOf(prefix: TakePrefix, epoch: number): string {
  return `${prefix}${epoch}`;
}

function spectrogramImg(files: AuditionPageFiles, audio: string, label: string): string {
  const picture = files.spectrograms.get(audio);
  if (picture === undefined) return '';
  return `<img class="spectrogram" src="${escapeHtml(relativeHref(files.pageDir, picture))}" width="${SPECTROGRAM_WIDTH}" height="${SPECTROGRAM_HEIGHT}" alt="${escapeHtml(`spectrogram of ${label}`)}">`;
}

function player(files: AuditionPageFiles, audio: string, take: string, guideId: string, label: string): string {
  return `<audio controls preload="metadata" src="${escapeHtml(relativeHref(files.pageDir, audio))}" data-take="${escapeHtml(take)}" data-guide="${escapeHtml(guideId)}" aria-label="${escapeHtml(label)}"></audio>`;
}

function phraseCell(files: AuditionPageFiles, metrics: readonly Metric[], take: string, who: string, guide: AuditionGuide, phrase: AuditionPhraseScore | undefined): string {
  if (phrase === undefined) return '<td class="phrase missing">not converted</td>';
  const label = `${who}, ${guide.label}`;
  const scores = metrics.map((m) => `<span title="${escapeHtml(m.help)}">${m.short} <b>${formatScore(m, phrase[m.key])}</b></span>`).join(' · ');
  return `<td class="phrase">${player(files, phrase.file, take, guide.id, label)}<div class="scores">${scores}</div>${spectrogramImg(files, phrase.file, label)}</td>`;
}

interface EpochTableOptions {
  id: string;
  model: string;
  prefix: TakePrefix;
  recommended?: number;
  plateau?: number;
  /** The guides' own row (the first table only: the guides are the same for every version). */
  withGuides: boolean;
}

const OWN_SIMILARITY = "The guide singer's own similarity to the singer";

/** The guides as the model heard them: a player each, with its own similarity to the singer. */
function guideRow(input: AuditionPageInput, files: AuditionPageFiles, metrics: readonly Metric[]): string {
  const scores = metrics.map((m) => (m.key === 'similarity' ? `<td class="num" title="${OWN_SIMILARITY}">${formatScore(m, mean(input.guides.map((g) => g.baselineSimilarity)))}</td>` : '<td></td>'));
  const cells = input.guides.map((g) => {
    const label = `guide, ${g.label}`;
    return `<td class="phrase">${player(files, g.file, GUIDE_TAKE, g.id, label)}<div class="scores"><span title="${OWN_SIMILARITY}">own sim <b>${formatScore(METRICS[0]!, g.baselineSimilarity)}</b></span></div>${spectrogramImg(files, g.file, label)}</td>`;
  });
  return `<tr class="guide"><th>guide <small>as the model heard it</small></th>${scores.join('')}${cells.join('')}</tr>`;
}

function epochTable(input: AuditionPageInput, files: AuditionPageFiles, epochs: readonly AuditionEpoch[], options: EpochTableOptions): string {
  const metrics = metricsShown(input);
  const head =
    `<tr><th>epoch</th>${metrics.map((m) => `<th class="num" title="${escapeHtml(m.help)}">${m.label}</th>`).join('')}` +
    `${input.guides.map((g) => `<th class="phrase">${escapeHtml(g.label)}</th>`).join('')}</tr>`;
  const rows = epochs.map((epoch) => {
    const recommended = epoch.epoch === options.recommended;
    const plateau = epoch.epoch === options.plateau;
    const classes = ['epoch', ...(recommended ? ['recommended'] : []), ...(plateau ? ['plateau'] : [])].join(' ');
    const badges = `${recommended ? ' <span class="badge recommended">recommended</span>' : ''}${plateau ? ' <span class="badge plateau">plateau</span>' : ''}`;
    const step = epoch.step === undefined ? '' : ` <small>step ${epoch.step}</small>`;
    const who = `${options.model} epoch ${epoch.epoch}`;
    const take = takeOf(options.prefix, epoch.epoch);
    const byGuide = new Map(epoch.phrases.map((p) => [p.guideId, p]));
    return (
      `<tr class="${classes}" id="${options.id}-${epoch.epoch}" data-epoch="${epoch.epoch}"${recommended ? ' data-recommended="true"' : ''}>` +
      `<th>${epoch.epoch}${step}${badges}</th>${metrics.map((m) => `<td class="num">${formatScore(m, epoch[m.key])}</td>`).join('')}` +
      input.guides.map((g) => phraseCell(files, metrics, take, who, g, byGuide.get(g.id))).join('') +
      '</tr>'
    );
  });
  return `<table class="epochs" id="${options.id}s"><thead>${head}${options.withGuides ? guideRow(input, files, metrics) : ''}</thead><tbody>${rows.join('')}</tbody></table>`;
}

// ---- the A/B player ----

function abPanel(input: AuditionPageInput, files: AuditionPageFiles): string {
  const option = (value: string, text: string, selected: boolean): string => `<option value="${escapeHtml(value)}"${selected ? ' selected' : ''}>${escapeHtml(text)}</option>`;
  const defaultB = input.epochs.some((e) => e.epoch === input.recommended.epoch) ? input.recommended.epoch : input.epochs.at(-1)?.epoch;
  const takes = (selected: string): string => {
    const own = input.epochs.map((e) => option(takeOf('e', e.epoch), `epoch ${e.epoch}${e.epoch === input.recommended.epoch ? ' (recommended)' : ''}`, selected === takeOf('e', e.epoch))).join('');
    const other =
      input.compare === undefined
        ? ''
        : `<optgroup label="${escapeHtml(input.compare.model)}">${input.compare.epochs.map((e) => option(takeOf('c', e.epoch), `${input.compare!.model} epoch ${e.epoch}`, false)).join('')}</optgroup>`;
    return `${option(GUIDE_TAKE, 'guide', selected === GUIDE_TAKE)}<optgroup label="${escapeHtml(input.model)}">${own}</optgroup>${other}`;
  };
  const first = input.guides[0];
  if (first === undefined) return '';
  const bTake = defaultB === undefined ? GUIDE_TAKE : takeOf('e', defaultB);
  return (
    '<section id="ab" class="ab"><h2>A/B</h2>' +
    '<p class="hint">One player for two takes of the same phrase: A and B switch at the same moment of the phrase.</p>' +
    `<div class="controls"><label>phrase <select id="ab-phrase">${input.guides.map((g, i) => option(g.id, g.label, i === 0)).join('')}</select></label>` +
    `<label>A <select id="ab-a">${takes(GUIDE_TAKE)}</select></label>` +
    `<label>B <select id="ab-b">${takes(bTake)}</select></label>` +
    '<span class="buttons"><button type="button" id="ab-play-a" aria-pressed="true">A</button><button type="button" id="ab-play-b" aria-pressed="false">B</button>' +
    '<button type="button" id="ab-switch">switch A ⇄ B</button></span></div>' +
    `<audio id="ab-player" controls preload="metadata" src="${escapeHtml(relativeHref(files.pageDir, first.file))}" data-side="a" data-take="${GUIDE_TAKE}" data-state="ready"></audio>` +
    `<p id="ab-now" class="now">A: guide · ${escapeHtml(first.label)}</p></section>`
  );
}

/**
 * The A/B player: the sources of every take and phrase are read from the page's own players (data-take, data-guide).
 * A switch carries the playback position (and playing or paused) over to the other file once it has loaded; the player's
 * data-state says "loading" until then, "ready" after. Playing any player pauses the others.
 */
const AB_SCRIPT = `'use strict';
(() => {
  const player = document.getElementById('ab-player');
  if (player === null) return;
  const phrase = document.getElementById('ab-phrase');
  const picks = { a: document.getElementById('ab-a'), b: document.getElementById('ab-b') };
  const buttons = { a: document.getElementById('ab-play-a'), b: document.getElementById('ab-play-b') };
  const now = document.getElementById('ab-now');
  const sources = new Map();
  for (const audio of document.querySelectorAll('audio[data-guide]')) sources.set(audio.dataset.take + '\\n' + audio.dataset.guide, audio.getAttribute('src'));
  let side = 'a';
  let loads = 0;
  let pending;
  const show = (next, keepPosition) => {
    side = next;
    for (const key of ['a', 'b']) buttons[key].setAttribute('aria-pressed', String(key === side));
    const take = picks[side].value;
    const label = picks[side].selectedOptions[0].textContent + ' · ' + phrase.selectedOptions[0].textContent;
    const src = sources.get(take + '\\n' + phrase.value);
    const resume = pending ?? { position: player.currentTime, playing: !player.paused };
    const position = keepPosition ? resume.position : 0;
    const load = ++loads;
    player.dataset.side = side;
    player.dataset.take = take;
    if (src === undefined) {
      pending = undefined;
      now.textContent = side.toUpperCase() + ': ' + label + ' was not converted';
      player.removeAttribute('src');
      player.load();
      player.dataset.state = 'missing';
      return;
    }
    now.textContent = side.toUpperCase() + ': ' + label;
    if (player.getAttribute('src') === src && pending === undefined) {
      player.currentTime = position;
      player.dataset.state = 'ready';
      return;
    }
    pending = { position, playing: resume.playing };
    player.dataset.state = 'loading';
    player.addEventListener('loadedmetadata', () => {
      if (load !== loads) return;
      pending = undefined;
      player.currentTime = Math.min(position, player.duration);
      player.dataset.state = 'ready';
      if (resume.playing) player.play().catch(() => {});
    }, { once: true });
    player.setAttribute('src', src);
  };
  buttons.a.addEventListener('click', () => show('a', true));
  buttons.b.addEventListener('click', () => show('b', true));
  document.getElementById('ab-switch').addEventListener('click', () => show(side === 'a' ? 'b' : 'a', true));
  for (const key of ['a', 'b']) picks[key].addEventListener('change', () => { if (key === side) show(side, true); });
  phrase.addEventListener('change', () => show(side, false));
  document.addEventListener('play', (event) => {
    for (const audio of document.querySelectorAll('audio')) if (audio !== event.target) audio.pause();
  }, true);
})();
`;

// ---- the page ----

const STYLE = `
:root{color-scheme:light;--sim:#1c6fd1;--f0:#e8590c;--mark:#2b8a3e;--ink:#212529;--muted:#6c757d;--line:#dee2e6}
*{box-sizing:border-box}
body{margin:0;padding:16px 20px 40px;font:13px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--ink);background:#fff}
h1{font-size:18px;margin:0 0 2px}h2{font-size:15px;margin:22px 0 8px}
.meta{color:var(--muted);margin:0 0 10px}
.verdict{border-left:4px solid var(--mark);background:#ebfbee;padding:6px 10px;margin:6px 0}
.note{border-left:4px solid #adb5bd;background:#f8f9fa;padding:6px 10px;margin:6px 0;color:#495057}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
svg.chart{max-width:100%;height:auto;display:block}
.grid{stroke:#000;stroke-opacity:.07}.axis,.tick-mark{stroke:#adb5bd}
.tick{font-size:11px;fill:var(--muted)}.tick.sim{fill:var(--sim)}.tick.f0{fill:var(--f0)}
.axis-label{font-size:11px;fill:#495057}.axis-label.sim{fill:var(--sim)}.axis-label.f0{fill:var(--f0)}
.line{fill:none;stroke-width:2px}.line.sim{stroke:var(--sim)}.line.f0{stroke:var(--f0)}.line.compare{stroke-opacity:.35;stroke-dasharray:2 3}
.point.sim{fill:var(--sim)}.point.f0{fill:var(--f0)}.point.compare{fill-opacity:.35}
.baseline{stroke:var(--sim);stroke-width:1.5px;stroke-dasharray:6 4}
.mark line{stroke:var(--mark);stroke-width:2px}.mark text{font-size:11px;font-weight:600;fill:var(--mark)}
.mark.plateau line{stroke:#868e96;stroke-width:1.5px;stroke-dasharray:2 3}.mark.plateau text{fill:#868e96;font-weight:400}
.legend{display:flex;flex-wrap:wrap;gap:14px;color:#495057;margin:4px 0 0}
.legend i{display:inline-block;width:16px;height:0;margin-right:5px;vertical-align:3px;border-top:2px solid}
.legend i.sim{border-color:var(--sim)}.legend i.f0{border-color:var(--f0)}.legend i.baseline{border-top-style:dashed;border-color:var(--sim)}
.legend i.recommended{border-color:var(--mark)}.legend i.plateau{border-top-style:dotted;border-color:#868e96}.legend i.compare{border-top-style:dotted;border-color:#adb5bd}
section.ab{position:sticky;top:0;z-index:1;background:rgba(255,255,255,.96);border-bottom:1px solid var(--line);padding:4px 0 8px}
.ab .controls{display:flex;flex-wrap:wrap;gap:10px;align-items:center}.ab .hint{color:var(--muted);margin:0 0 6px}
.ab button{font:inherit;padding:2px 10px;border:1px solid #adb5bd;border-radius:4px;background:#fff;cursor:pointer}
.ab button[aria-pressed=true]{background:var(--sim);border-color:var(--sim);color:#fff}
#ab-player{display:block;width:min(100%,640px);margin-top:6px}.now{margin:2px 0 0;color:#495057}
table{border-collapse:collapse}th,td{padding:4px 8px;border-bottom:1px solid var(--line);vertical-align:top;text-align:left}
thead th{background:#f8f9fa;font-weight:600}tr.guide th,tr.guide td{background:#f8f9fa}
th small{display:block;font-weight:400;color:var(--muted)}
td.phrase audio{display:block;width:250px;height:30px}td.phrase .scores{font-size:12px;color:#495057;margin:2px 0}
td.phrase.missing{color:var(--muted)}
img.spectrogram{display:block;width:240px;height:80px;border-radius:2px}
tr.recommended>*{background:#ebfbee}tr.recommended>th{border-left:4px solid var(--mark)}
.badge{display:inline-block;font-size:11px;font-weight:600;border-radius:3px;padding:0 5px;margin-top:2px}
.badge.recommended{background:var(--mark);color:#fff}.badge.plateau{border:1px solid #868e96;color:#495057;font-weight:400}
footer{margin-top:30px;color:var(--muted);font-size:12px}
`;

/** The script runs by its hash; nothing else loads but files beside the page (file: when opened from disk). */
const CONTENT_SECURITY_POLICY =
  "default-src 'none'; style-src 'unsafe-inline'; " +
  `script-src 'sha256-${createHash('sha256').update(AB_SCRIPT).digest('base64')}'; img-src 'self' file: data:; media-src 'self' file:`;

function headerHtml(input: AuditionPageInput): string {
  const parts = [
    `<header><h1>Audition · ${escapeHtml(input.model)}</h1>`,
    `<p class="meta">${escapeHtml(`written ${formatWhen(input.createdAt)} · ${input.epochs.length} epochs · ${input.guides.length} guide phrases`)}</p>`,
    `<p class="verdict" id="recommendation" data-epoch="${input.recommended.epoch}"><b>Recommended: epoch ${input.recommended.epoch}</b> · ${escapeHtml(input.recommended.reason)}` +
      `${input.plateau === undefined ? '' : `<br>Similarity stops rising at epoch ${input.plateau.epoch} · ${escapeHtml(input.plateau.reason)}`}</p>`,
  ];
  if (input.guideNote !== undefined) parts.push(`<p class="note guide-note">${escapeHtml(input.guideNote)}</p>`);
  if (!input.naturalness.available) parts.push(`<p class="note naturalness-note">Naturalness (DNSMOS) was not measured${input.naturalness.note === undefined ? '.' : `: ${escapeHtml(input.naturalness.note)}`}</p>`);
  parts.push('</header>');
  return parts.join('');
}

/** The whole page: pure, the same input and files give the same bytes. */
export function renderAuditionHtml(input: AuditionPageInput, files: AuditionPageFiles): string {
  const body = [
    headerHtml(input),
    input.epochs.length === 0 ? '<p class="empty">No epoch was auditioned.</p>' : `<section id="scores"><h2>Scores over epochs</h2>${chartSvg(input)}${chartLegend(input)}</section>`,
    abPanel(input, files),
    `<section id="listen"><h2>Every epoch</h2>${epochTable(input, files, input.epochs, { id: 'epoch', model: input.model, prefix: 'e', withGuides: true, recommended: input.recommended.epoch, ...(input.plateau === undefined ? {} : { plateau: input.plateau.epoch }) })}</section>`,
  ];
  if (input.compare !== undefined) {
    body.push(`<section id="compare"><h2>${escapeHtml(input.compare.model)}, for comparison</h2>${epochTable(input, files, input.compare.epochs, { id: 'compare-epoch', model: input.compare.model, prefix: 'c', withGuides: false })}</section>`);
  }
  body.push('<footer>Written by voicestudio audition. Scores are objective estimates: listen before you choose.</footer>');
  return htmlPage({ title: `Audition · ${input.model}`, policy: CONTENT_SECURITY_POLICY, style: STYLE, body: body.join('\n'), script: AB_SCRIPT });
}

export interface WriteAuditionPageOptions {
  /** FFmpeg runs at once for the spectrograms. */
  concurrency?: number;
  signal?: AbortSignal;
}

/** Every audio file the page plays. */
function audioFiles(input: AuditionPageInput): string[] {
  const epochs = [...input.epochs, ...(input.compare?.epochs ?? [])];
  return [...input.guides.map((g) => g.file), ...epochs.flatMap((e) => e.phrases.map((p) => p.file))];
}

/**
 * Draws the spectrograms the page shows into dir/spectrograms (those already drawn of the same audio are kept, those no
 * longer shown removed) and writes dir/index.html atomically; returns its path. The audio stays where it is: the
 * converted phrases are expected inside `dir` already, the guides may be anywhere (links are relative).
 */
export async function writeAuditionPage(dir: string, input: AuditionPageInput, tools: FfmpegTools, options: WriteAuditionPageOptions = {}): Promise<string> {
  await mkdir(dir, { recursive: true });
  const spectrograms = await writeSpectrograms(tools, audioFiles(input), path.join(dir, SPECTROGRAMS_DIR), {
    concurrency: options.concurrency ?? Math.min(4, availableParallelism()),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  const file = path.join(dir, AUDITION_PAGE_FILE);
  const temp = tempSibling(file);
  try {
    await writeFile(temp, renderAuditionHtml(input, { pageDir: dir, spectrograms }));
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  await commitTemp(temp, file);
  return file;
}
