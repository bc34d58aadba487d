/** Plain-text tables for human output: columns padded to their widest cell; numbers right-aligned. */

export type Cell = string | number;

export function renderTable(headers: string[], rows: Cell[][]): string {
  const numeric = headers.map((_, column) => rows.length > 0 && rows.every((row) => typeof row[column] === 'number' || row[column] === '–'));
  const text = [headers, ...rows.map((row) => row.map((cell) => String(cell)))];
  const widths = headers.map((_, column) => Math.max(...text.map((row) => (row[column] ?? '').length)));
  return text
    .map((row) =>
      row
        .map((cell, column) => (numeric[column] ? cell.padStart(widths[column] ?? 0) : cell.padEnd(widths[column] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
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
