"""Stand-in for Applio 3.6.4 rvc/train/train.py.

argv: model_name save_every_epoch total_epoch pretrainG pretrainD gpus batch_size
      sample_rate save_only_latest save_every_weights cache_data_in_gpu cleanup
      vocoder checkpointing
Quirks kept:
- experiment dir is cwd/logs/<model_name>; missing config.json -> exit 1;
  dataset SR != config SR -> exit 1 (the two parent-level failures);
- every failure inside the training worker (missing files, not enough data,
  pretrained mismatch, crash) still ends with exit code 0;
- resumes from the G_*/D_*.pth with the highest number (sorted by all digits of
  the path, not by epoch) when both load, else starts at epoch 1 from the
  pretrained weights; steps restart at (epoch - 1) * len(train_loader), so after a
  batch_size change newer checkpoints can carry smaller numbers;
- rows whose audio is outside the loader's buckets (getsize(wav) // (3 * hop),
  50 < length <= 900) are silently left out; len(train_loader) counts each
  bucket rounded up to whole batches;
- prints "<model> | epoch=N | step=S | time=HH:MM:SS | training_speed=H:MM:SS"
  per epoch, and "Saved model '<path>' (epoch N)" per checkpoint;
- the final <model>_<E>e_<S>s.pth is written only when assets/config.json exists
  (otherwise "An error occurred extracting the model: ..." is printed), and only
  when no file of that name exists yet (train.py:946), even a truncated one.
"""

import datetime
import glob
import json
import os
import sys

sys.path.append(os.getcwd())

from rvc.lib import standin  # noqa: E402


def strtobool(val):
    return val.lower() in ("yes", "true", "t", "y", "1")


def extract_model(exp_dir, model_name, path, epoch, step, sr, vocoder, torn=False):
    try:
        info = standin.read_json(os.path.join(exp_dir, "model_info.json"), {})
        with open(os.path.join(os.getcwd(), "assets", "config.json"), "r", encoding="utf-8") as fh:
            author = json.load(fh).get("model_author")
        standin.save_pth(path, {
            "weight": {"emb_g.weight": "tensor"},
            "config": [1025, 32, 192, 192, 768, 2, 6, 3, 0, "1", [3, 7, 11], [[1, 3, 5]] * 3,
                       [10, 10, 2, 2], 512, [16, 16, 4, 4], info.get("speakers_id", 1), 256, sr],
            "epoch": epoch, "step": step, "sr": sr, "f0": True, "version": "v2",
            "creation_date": datetime.datetime.now().isoformat(),
            "model_hash": "0" * 64,
            "dataset_length": info.get("total_dataset_duration"),
            "model_name": model_name, "author": author,
            "embedder_model": info.get("embedder_model"),
            "speakers_id": info.get("speakers_id", 1), "vocoder": vocoder,
        })
        if torn:  # the worker died (or the volume filled up) while torch.save was writing
            with open(path, "r+b") as fh:
                fh.truncate(os.path.getsize(path) // 2)
            standin.fail_exit()
        standin.say(f"Saved model '{path}' (epoch {epoch} and step {step})")
    except Exception as error:
        standin.say(f"An error occurred extracting the model: {error}")


def save_checkpoint(path, epoch, torn=False):
    standin.save_pth(path, {"model": {}, "iteration": epoch, "optimizer": {},
                            "learning_rate": 0.0001, "scaler": {}})
    if torn:  # the worker died while torch.save was writing
        with open(path, "r+b") as fh:
            fh.truncate(os.path.getsize(path) // 2)
        return
    standin.say(f"Saved model '{path}' (epoch {epoch})")


def crash(epoch):
    standin.say("Traceback (most recent call last):")
    standin.say(f'  File "rvc/train/train.py", line 700, in train_and_evaluate (epoch {epoch})')
    standin.say("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB")
    standin.fail_exit()


def bus_error(epoch):
    """What PyTorch prints when a DataLoader worker dies of SIGBUS (a /dev/shm too small)."""
    standin.say("ERROR: Unexpected bus error encountered in worker. This might be caused by insufficient shared memory (shm).")
    standin.say("Traceback (most recent call last):")
    standin.say(f'  File "rvc/train/train.py", line 640, in train_and_evaluate (epoch {epoch})')
    standin.say("RuntimeError: DataLoader worker (pid 4242) is killed by signal: Bus error. It is possible that "
                "dataloader's workers are out of shared memory. Please try to raise your shared memory limit.")
    standin.fail_exit()


def main():
    model_name = sys.argv[1]
    save_every, total_epoch = int(sys.argv[2]), int(sys.argv[3])
    pretrain_g, pretrain_d = sys.argv[4], sys.argv[5]
    batch_size, sample_rate = int(sys.argv[7]), int(sys.argv[8])
    save_only_latest, save_every_weights = strtobool(sys.argv[9]), strtobool(sys.argv[10])
    cleanup, vocoder = strtobool(sys.argv[12]), sys.argv[13]
    exp_dir = os.path.join(os.getcwd(), "logs", model_name)

    config_path = os.path.join(exp_dir, "config.json")
    config = standin.read_json(config_path)
    if config is None:
        standin.say(f"Config file not found at {config_path}. Did you run preprocessing and feature extraction steps?")
        sys.exit(1)
    wavs = glob.glob(os.path.join(exp_dir, "sliced_audios", "*.wav"))
    if wavs:
        sr = standin.wav_rate(wavs[0])
        if sr != config["data"]["sample_rate"]:
            standin.say(f"Error: Pretrained model sample rate ({config['data']['sample_rate']} Hz) does not match dataset audio sample rate ({sr} Hz).")
            sys.stdout.flush()
            os._exit(1)
    else:
        standin.say("No wav file found.")
    if cleanup:
        standin.say("Removing files from the prior training attempt...")
        for path in glob.glob(os.path.join(exp_dir, "[GD]_*.pth")):
            os.remove(path)
    config["process_pids"] = [os.getpid()]
    standin.write_json(config_path, config)

    # ---- the training worker (a spawned process in Applio) ----
    with open(os.path.join(exp_dir, "filelist.txt")) as fh:
        rows = [line.strip() for line in fh if line.strip()]
    for row in rows:
        for rel in row.split("|")[:4]:
            if not os.path.exists(rel):  # the DataLoader would crash on it
                standin.say("Traceback (most recent call last):")
                standin.say(f"FileNotFoundError: [Errno 2] No such file or directory: '{rel}'")
                standin.fail_exit()
    # The data loader measures every row's audio by file size and leaves rows
    # outside the buckets out of training without a word (data_utils.py).
    hop_length = config["data"]["hop_length"]
    lengths = [standin.loader_length(row.split("|")[0], hop_length) for row in rows]
    steps_per_epoch = standin.loader_batches(lengths, batch_size)  # len(train_loader)
    if steps_per_epoch < 3:
        standin.say("Not enough data present in the training set. Perhaps you forgot to slice the audio files in preprocess?")
        standin.fail_exit()

    standin.say("Starting training...")
    try:
        d_path = standin.latest_checkpoint_path(exp_dir, "D_*.pth")
        g_path = standin.latest_checkpoint_path(exp_dir, "G_*.pth")
        d_epoch = standin.load_pth(d_path)["iteration"]
        standin.say(f"Loaded checkpoint '{d_path}' (epoch {d_epoch})")
        epoch_str = standin.load_pth(g_path)["iteration"]
        standin.say(f"Loaded checkpoint '{g_path}' (epoch {epoch_str})")
        epoch_str += 1
    except Exception:
        epoch_str = 1
        for label, path in (("G", pretrain_g), ("D", pretrain_d)):
            if path not in ("", "None"):
                standin.say(f"Loaded pretrained ({label}) '{path}'")
                try:
                    standin.load_pth(path)["model"]
                except Exception as error:
                    standin.say("The parameters of the pretrain model such as the sample rate or architecture do not match the selected model.")
                    standin.say(str(error))
                    standin.fail_exit()

    faults = standin.faults()
    crash_at = standin.fault_epoch("crash-at-epoch")
    torn_at = standin.fault_epoch("torn-checkpoint-at-epoch")
    hang_at = standin.fault_epoch("hang-at-epoch")
    bus_error_at = standin.fault_epoch("bus-error-at-epoch")
    speed = os.environ.get("FAKE_APPLIO_EPOCH_SPEED", "0:00:00")
    for epoch in range(epoch_str, total_epoch + 1):
        step = epoch * steps_per_epoch
        record = f"{model_name} | epoch={epoch} | step={step} | time={datetime.datetime.now():%H:%M:%S} | training_speed={speed}"
        if epoch > 1:
            record += f" | lowest_value=12.345 (epoch {epoch} and step {step})"
        standin.say(record)
        if epoch % save_every == 0:
            suffix = f"{2333333 if save_only_latest else step}.pth"
            save_checkpoint(os.path.join(exp_dir, "G_" + suffix), epoch)
            save_checkpoint(os.path.join(exp_dir, "D_" + suffix), epoch, torn=epoch == torn_at)
            if epoch == torn_at:
                crash(epoch)
            # At the last epoch Applio adds the same file name for both reasons and writes it once (below).
            if save_every_weights and epoch < total_epoch:
                extract_model(exp_dir, model_name, os.path.join(exp_dir, f"{model_name}_{epoch}e_{step}s.pth"),
                              epoch, step, sample_rate, vocoder)
        if epoch == crash_at:
            crash(epoch)
        if epoch == hang_at:
            standin.hang(config_path)
        if epoch == bus_error_at:
            bus_error(epoch)
        if epoch >= total_epoch:
            standin.say(f"Training has been successfully completed with {epoch} epoch, {step} steps and 12.345 loss gen.")
            standin.say(f"Lowest generator loss: 12.345 at epoch {epoch}, step {step}")
            final = os.path.join(exp_dir, f"{model_name}_{epoch}e_{step}s.pth")
            if "train-no-model" not in faults and not os.path.exists(final):
                extract_model(exp_dir, model_name, final, epoch, step, sample_rate, vocoder,
                              torn="torn-final-model" in faults)
            config = standin.read_json(config_path)
            config.pop("process_pids", None)
            standin.write_json(config_path, config)
            standin.fail_exit()  # os._exit(2333333) in the worker; the parent exits 0


if __name__ == "__main__":
    main()
