"""Stand-in for Applio 3.6.4 rvc/train/preprocess/preprocess.py.

argv: exp_dir dataset_dir sample_rate n_processes|None cut(Skip|Simple|Automatic)
      process_effects noise_reduction nr_strength chunk_len overlap_len normalization
Quirks kept: only .wav/.mp3/.flac/.ogg are read; sub-folders must be integer
speaker ids (others are skipped with a warning); per-file errors are printed and
skipped; a missing dataset or no files -> sys.exit(1); writes
sliced_audios/{sid}_{idx0}_{idx1}.wav (target SR), sliced_audios_16k/ and
model_info.json (total_dataset_duration, total_seconds). Slices are float32 mono
WAVs (scipy's wavfile.write of audio.astype(np.float32)); "Skip" keeps each file
whole, whatever its length.
"""

import os
import sys
import time

sys.path.append(os.getcwd())

from rvc.lib import standin  # noqa: E402

PERCENTAGE = 3.0
OVERLAP = 0.3


def strtobool(val):
    return val.lower() in ("yes", "true", "t", "y", "1")


def format_duration(seconds):
    return f"{int(seconds // 3600):02}:{int(seconds % 3600 // 60):02}:{int(seconds % 60):02}"


def cut(audio, sr, mode, chunk_len, overlap_len):
    if mode == "Skip":
        return [audio]
    if mode == "Simple":
        size, step = int(sr * chunk_len), int(sr * (chunk_len - overlap_len))
        return [audio[i:i + size] for i in range(0, len(audio), step) if len(audio[i:i + size]) == size]
    pieces, i = [], 0
    while True:
        start = int(sr * (PERCENTAGE - OVERLAP) * i)
        i += 1
        if len(audio[start:]) > (PERCENTAGE + OVERLAP) * sr:
            pieces.append(audio[start:start + int(PERCENTAGE * sr)])
        else:
            pieces.append(audio[start:])
            return pieces


def main():
    exp_dir, input_root = sys.argv[1], sys.argv[2]
    sr = int(sys.argv[3])
    processes = sys.argv[4]
    mode = sys.argv[5]
    strtobool(sys.argv[6]), strtobool(sys.argv[7]), float(sys.argv[8])
    chunk_len, overlap_len = float(sys.argv[9]), float(sys.argv[10])
    normalization = sys.argv[11]
    assert normalization in ("none", "pre", "post"), normalization

    if not os.path.exists(input_root):
        standin.say(f"The dataset path does not exist: '{input_root}'.")
        sys.exit(1)
    start_time = time.time()
    standin.say(f"Starting preprocess with {processes} processes...")
    files, idx = [], 0
    for root, _, names in os.walk(input_root):
        try:
            sid = 0 if root == input_root else int(os.path.basename(root))
            for name in sorted(names):
                if name.lower().endswith(standin.LIBSNDFILE_EXTENSIONS):
                    files.append((os.path.join(root, name), idx, sid))
                    idx += 1
        except ValueError:
            standin.say(f'Speaker ID folder is expected to be integer, got "{os.path.basename(root)}" instead.')
    if not files:
        standin.say(f"No audio files found in the dataset path: '{input_root}'. Please check that the path is correct and contains valid audio files.")
        sys.exit(1)

    if "preprocess-no-output" in standin.faults():
        standin.say(f"Preprocess completed in 0.01 seconds on {format_duration(0)} seconds of audio.")
        return
    gt_dir = os.path.join(exp_dir, "sliced_audios")
    dir16 = os.path.join(exp_dir, "sliced_audios_16k")
    os.makedirs(gt_dir, exist_ok=True)
    os.makedirs(dir16, exist_ok=True)
    total = 0.0
    with standin.ProgressBar(len(files)) as bar:
        for path, idx0, sid in files:
            try:
                audio, file_sr = standin.load_audio(path)
            except Exception as error:
                standin.say(f"Error processing audio: {error}")  # mid-bar, as from Applio's pool
                bar.update()
                continue
            audio = standin.resample(audio, file_sr, sr)
            total += len(audio) / sr
            for idx1, piece in enumerate(cut(audio, sr, mode, chunk_len, overlap_len)):
                name = f"{sid}_{idx0}_{idx1}.wav"
                piece = standin.float32_samples(piece)
                standin.write_wav_float32(os.path.join(gt_dir, name), piece, sr)
                standin.write_wav_float32(os.path.join(dir16, name), standin.resample(piece, sr, 16000), 16000)
            bar.update()
    info_path = os.path.join(exp_dir, "model_info.json")
    info = standin.read_json(info_path, {})
    info.update({"total_dataset_duration": format_duration(total), "total_seconds": total})
    standin.write_json(info_path, info)
    standin.say(
        f"Preprocess completed in {time.time() - start_time:.2f} seconds on {format_duration(total)} seconds of audio."
    )


if __name__ == "__main__":
    main()
