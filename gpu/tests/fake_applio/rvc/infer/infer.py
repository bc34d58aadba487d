"""Stand-in for Applio 3.6.4 rvc/infer/infer.py (the VoiceConverter class).

Same convert_audio keyword arguments as 3.6.4. Quirks kept: the last model stays
loaded until another path is given; input is read like soundfile does
(wav/mp3/flac/ogg only); index_path has "trained" replaced by "added"; a missing
index is silently ignored, and one that cannot be read is reported and left out;
pitch is ignored when f0_autotune is on; hybrid[...] f0 methods fail because they are not
implemented; output is written at the model's sample rate (config[-1]).
A model with a "standin_voice" entry ({"timbre": 0..1, "detune_cents": c}) changes the voice like a trained
model would, so that the audition task sees outputs that differ by epoch: the timbre moves towards a target
(an EQ) as "timbre" grows, and the pitch is shifted by the requested pitch plus "detune_cents".
"""

import os
import shutil
import sys
import threading
import time

sys.path.append(os.getcwd())

from rvc.lib import standin  # noqa: E402

EMBEDDERS = ("contentvec", "spin", "spin-v2", "chinese-hubert-base", "japanese-hubert-base",
             "korean-hubert-base", "custom")


class VoiceConverter:
    def __init__(self):
        self.loaded_model = None
        self.cpt = None
        self.tgt_sr = None
        self.last_embedder_model = None
        self.loads = 0

    def get_vc(self, weight_root, sid):
        if not self.loaded_model or self.loaded_model != weight_root:
            self.cpt = standin.load_pth(weight_root) if os.path.isfile(weight_root) else None
            if self.cpt is not None:
                self.tgt_sr = self.cpt["config"][-1]
                self.loaded_model = weight_root
                self.loads += 1
                print(f"Loaded voice model '{weight_root}' (load #{self.loads})", flush=True)
            else:
                self.loaded_model = None

    def convert_audio(self, audio_input_path, audio_output_path, model_path, index_path, pitch=0,
                      f0_method="rmvpe", index_rate=0.75, volume_envelope=1.0, protect=0.5,
                      hop_length=128, split_audio=False, f0_autotune=False, f0_autotune_strength=1,
                      embedder_model="contentvec", embedder_model_custom=None, clean_audio=False,
                      clean_strength=0.5, export_format="WAV", post_process=False, resample_sr=0,
                      sid=0, proposed_pitch=False, proposed_pitch_threshold=155.0, **kwargs):
        if not model_path:
            print("No model path provided. Aborting conversion.", flush=True)
            return
        self.get_vc(model_path, sid)
        start = time.time()
        print(f"Converting audio '{audio_input_path}'...", flush=True)
        if "infer-hang" in standin.faults():
            threading.Event().wait()
        audio, rate = standin.load_audio(audio_input_path)
        if embedder_model != self.last_embedder_model:
            assert embedder_model in EMBEDDERS, embedder_model
            print(f"Loaded embedder '{embedder_model}'", flush=True)
            self.last_embedder_model = embedder_model
        file_index = index_path.strip().replace("trained", "added")
        if file_index and os.path.exists(file_index) and index_rate != 0:
            with open(file_index, "rb") as fh:
                magic = fh.read(10)
            if magic == b"FAKE-FAISS":
                print(f"Using index '{file_index}' at rate {index_rate}", flush=True)
            else:  # pipeline.py goes on without the index
                print("An error occurred reading the FAISS index: Error in faiss::Index* "
                      f"faiss::read_index(IOReader*, int): Index type {magic[:4]!r} not recognized", flush=True)
        if f0_method.startswith("hybrid["):
            raise UnboundLocalError("cannot access local variable 'f0' where it is not associated with a value")
        if self.cpt is None:
            raise AttributeError("'NoneType' object has no attribute 'pipeline'")
        if "infer-no-output" in standin.faults():
            print("An error occurred during conversion: simulated failure", flush=True)
            return
        factor = 1.0 if f0_autotune else 2 ** (pitch / 12)  # pipeline.py shifts only without autotune
        audio_16k = standin.resample(audio, rate, 16000)
        out = standin.resample(audio_16k, 16000, self.tgt_sr)
        out = standin.scale(out, volume_envelope)
        standin.write_wav(audio_output_path, out, self.tgt_sr)
        voice = self.cpt.get("standin_voice")
        if voice:  # a model of the audition tests: its voice and pitch depend on the epoch
            shift = 0 if f0_autotune else 100 * pitch
            standin.apply_voice(audio_output_path, voice["timbre"], shift + voice["detune_cents"])
        if export_format != "WAV":
            shutil.copyfile(audio_output_path, audio_output_path.replace(".wav", f".{export_format.lower()}"))
        print(f"Pitch factor {factor:.3f}, f0 {f0_method}, protect {protect}, sid {sid}", flush=True)
        print(f"Conversion completed at '{audio_output_path}' in {time.time() - start:.2f} seconds.", flush=True)
