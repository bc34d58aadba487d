/** Plain-text tables for human output: columns padded to their widest cell; numbers right-aligned. */

export type Cell = string | number;

/** Code points a terminal draws two columns wide (East Asian Wide and Fullwidth, emoji), as wcwidth counts them. */
const WIDE_RANGES: readonly (readonly [number, number])[] = [
  [0x1100, 0x115f], [0x2e80, 0x303e], [0x3041, 0x33ff], [0x3400, 0x4dbf], [0x4e00, 0x9fff], [0xa000, 0xa4cf],
  [0xa960, 0xa97f], [0xac00, 0xd7a3], [0xf900, 0xfaff], [0xfe10, 0xfe19], [0xfe30, 0xfe6f], [0xff00, 0xff60],
  [0xffe0, 0xffe6], [0x1f300, 0x1f64f], [0x1f900, 0x1f9ff], [0x20000, 0x2fffd], [0x30000, 0x3fffd],
];
/** Combining marks and format characters (zero-width joiners, variation selectors) take no column. */
const ZERO_WIDTH = /^[\p{Mn}\p{Me}\p{Cf}]$/u;

/** How many terminal columns `text` takes. */
export function displayWidth(text: string): number {
  let width = 0;
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    if (ZERO_WIDTH.test(char)) continue;
    width += WIDE_RANGES.some(([first, last]) => code >= first && code <= last) ? 2 : 1;
  }
  return width;
}

function pad(cell: string, width: number, alignRight: boolean): string {
  const fill = ' '.repeat(Math.max(0, width - displayWidth(cell)));
  return alignRight ? fill + cell : cell + fill;
}

export function renderTable(headers: string[], rows: Cell[][]): string {
  const numeric = headers.map((_, column) => rows.length > 0 && rows.every((row) => typeof row[column] === 'number' || row[column] === '–'));
  const text = [headers, ...rows.map((row) => row.map((cell) => String(cell)))];
  const widths = headers.map((_, column) => Math.max(...text.map((row) => displayWidth(row[column] ?? ''))));
  return text
    .map((row) =>
      row
        .map((cell, column) => pad(cell, widths[column] ?? 0, numeric[column] ?? false))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** "1 job", "3 jobs". */
export function countOf(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

export function formatMinutes(seconds: number): string {
  return `${(seconds / 60).toFixed(1)} min`;
}

/** "7.2 s" for short takes, "12.3 min" beyond 100 s. */
export function formatSeconds(seconds: number): string {
  return seconds < 100 ? `${seconds.toFixed(1)} s` : formatMinutes(seconds);
}

export function formatPercent(share: number, digits = 0): string {
  return `${(share * 100).toFixed(digits)} %`;
}

/** "3h 20m", "4m 05s", "12s". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s >= 3600) return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}

export function formatUsd(amount: number): string {
  return amount < 0.01 && amount > 0 ? `$${amount.toFixed(4)}` : `$${amount.toFixed(2)}`;
}
