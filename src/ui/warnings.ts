/** Quality warnings as human lines: the message, then what to do. */
import type { QualityWarning } from '../project/types.js';
import type { Output } from './output.js';

export function renderWarnings(warnings: QualityWarning[], out: Output): string[] {
  return warnings.map((w) => `${out.style('yellow', 'warning:')} ${w.message}\n  → ${w.suggestion}`);
}
