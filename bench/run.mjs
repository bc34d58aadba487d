#!/usr/bin/env node
// `npm run bench`: the benchmarks, each a module of bench/.
//   ingest   ingest + preprocess of two generated 60-minute sources (tone phrases; a realistic take with breaths): speed
//            (target ≥ 300× real time), peak memory (< 300 MB), wall and CPU time against one FFmpeg run that decodes
//            the source to 40 kHz mono FLAC (target ≤ 1.2×), and the share of the sound the clips keep
//   remote   train and convert against the RunPod emulator: bytes sent per minute of audio against naive base64 WAV,
//            and the time from a conversion's completion to the CLI noticing it (target about 1 s or less)
//   startup  CLI start-up time (`voicestudio --version`, `--help`)
//   album    `voicestudio batch` of 12 tracks on 4 emulated workers: wall time against ceil(12/N) × per-track time
//            (target within 10 %), and a re-run that submits no job
// `node bench/run.mjs [section...]` (or `npm run bench -- remote`) runs only the named sections.
import { benchIngestPreprocess } from './ingest.mjs';
import { benchRemote } from './remote.mjs';
import { benchStartup } from './startup.mjs';
import { benchAlbum } from './album.mjs';

const SECTIONS = { ingest: benchIngestPreprocess, remote: benchRemote, startup: benchStartup, album: benchAlbum };
const asked = process.argv.slice(2);
for (const name of asked) {
  if (!Object.hasOwn(SECTIONS, name)) {
    console.error(`bench: unknown section ${name}; sections: ${Object.keys(SECTIONS).join(', ')}`);
    process.exit(2);
  }
}
for (const [name, section] of Object.entries(SECTIONS)) {
  if (asked.length === 0 || asked.includes(name)) await section();
}
