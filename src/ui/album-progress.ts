/** Progress of an album (batch, convert --separate/--mix): a bar per running track and an overall bar on a terminal; one line per event elsewhere. */
import path from 'node:path';
import type { Output } from './output.js';
import type { BatchEvent, BatchTrack } from '../workflows/album.js';

const shortName = (track: BatchTrack): string => path.basename(track.input);

export function albumProgress(out: Output, total: number): { onEvent: (event: BatchEvent) => void; stop: () => void } {
  const progress = out.multiProgress('album', total);
  const bars = new Map<number, ReturnType<typeof progress.task>>();
  const lastDetail = new Map<number, string>();
  const counts = { converted: 0, cached: 0, failed: 0, skipped: 0 };
  const summary = (): string => `${counts.converted} converted · ${counts.cached} cached · ${counts.failed} failed`;
  return {
    onEvent: (event) => {
      const { track } = event;
      const label = `[${track.index + 1}/${total}] ${shortName(track)}`;
      if (event.stage === 'start') {
        bars.set(track.index, progress.task(shortName(track).slice(0, 28).padEnd(28), event.steps));
        return;
      }
      if (event.stage === 'done' || event.stage === 'failed' || event.stage === 'skipped') {
        const status = event.result?.status ?? 'failed';
        counts[status] += 1;
        bars.get(track.index)?.stop();
        bars.delete(track.index);
        const result = event.result;
        const note =
          status === 'failed' || status === 'skipped'
            ? `${status}: ${event.detail}`
            : `${status}${result?.mix === undefined ? '' : `, ${result.mix.lufs.toFixed(1)} LUFS`}${result !== undefined && result.gpuSeconds > 0 ? `, GPU ${result.gpuSeconds.toFixed(1)} s` : ''} → ${result?.output ?? ''}`;
        progress.log(`${label} ${note}`);
        progress.overall(counts.converted + counts.cached + counts.failed + counts.skipped, summary());
        return;
      }
      if (event.stage === 'retry') {
        progress.log(`${label} ${event.detail}`);
        return;
      }
      bars.get(track.index)?.update(event.step, event.detail);
      if (lastDetail.get(track.index) !== event.detail) {
        lastDetail.set(track.index, event.detail);
        if (!out.interactive) progress.log(`${label} ${event.detail}`);
      }
    },
    stop: () => progress.stop(),
  };
}
