"""Full-integer (int8) quantisation of face_landmark.tflite, and how it compares with the float model.

Reproduces the int8 evaluation recorded in docs/benchmarks.md. The int8 model is
our own artefact derived from the fetched, sha256-verified float model; it is
written to models/face_landmark_int8.tflite (git-ignored, like every .tflite).

ai-edge-quantizer pins ai-edge-litert and pulls protobuf and friends, so it runs
in a throwaway venv, never the project's:

    python3 -m venv /tmp/aeq && /tmp/aeq/bin/pip install ai-edge-quantizer opencv-python-headless scikit-image matplotlib
    /tmp/aeq/bin/python models/quantize_landmarks.py [--out PATH] [--threads 1]

Steps: (1) MediaPipe stores the weights as float16 behind DEQUANTIZE ops and
names every op only in the flatbuffer's deprecated opcode field; both confuse
the quantizer (it took every op for ADD), so the weights are folded to float32
constants and the opcodes restored. (2) A serving_default signature is added
(the quantizer needs one). (3) Calibration on 192x192 landmark crops, exactly as
the pipeline cuts them, from generated footage of identities the evaluation does
not use. (4) The a8w8 recipe: int8 activations (per tensor), int8 weights (per
channel), int8 input and output. (5) Evaluation on the benchmark clip: both
models on the same crops, frame by frame, in alternating order so both see the
same machine load; landmark error as a fraction of the outer-eye-corner distance.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge.bench.footage import synth_clip
from edge.sources.video import VideoFileSource
from edge.vision.landmarks import INPUT, N_LANDMARKS, FaceLandmarker
from edge.vision.models import load_manifest, verify
from edge.vision.pipeline import FacePipeline
from edge.vision.runtime import load_interpreter

CALIBRATION_IDENTITIES = ("hopper", "hopper-mirror")  # the evaluation clip is the astronaut
CALIBRATION_SEED, CALIBRATION_SECONDS, CALIBRATION_EVERY = 7, 6.0, 6
LEFT_EYE_OUTER, RIGHT_EYE_OUTER = 33, 263


def folded_float_model(path: Path) -> tuple[bytes, str]:
    """The float model with float32 weights, restored opcodes and a signature; and its input name."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    m = flatbuffer_utils.read_model(str(path))
    for code in m.operatorCodes:
        code.builtinCode = max(code.builtinCode, code.deprecatedBuiltinCode)
    sg = m.subgraphs[0]
    keep = []
    for op in sg.operators:
        src = sg.tensors[op.inputs[0]]
        data = m.buffers[src.buffer].data
        is_fp16_weight = (flatbuffer_utils.opcode_to_name(m, op.opcodeIndex) == "DEQUANTIZE"
                          and src.type == schema.TensorType.FLOAT16 and data is not None and len(data))
        if not is_fp16_weight:
            keep.append(op)
            continue
        w = np.frombuffer(np.asarray(data, np.uint8).tobytes(), np.float16).astype(np.float32)
        buf = schema.BufferT()
        buf.data = np.frombuffer(w.tobytes(), np.uint8)
        m.buffers.append(buf)
        sg.tensors[op.outputs[0]].buffer = len(m.buffers) - 1
        m.buffers[src.buffer].data = None
    sg.operators = keep
    used = sorted({i for op in keep for i in [*op.inputs, *op.outputs] if i >= 0} | set(sg.inputs) | set(sg.outputs))
    remap = {old: new for new, old in enumerate(used)}
    sg.tensors = [sg.tensors[i] for i in used]
    for op in keep:
        op.inputs = [remap[i] if i >= 0 else i for i in op.inputs]
        op.outputs = [remap[i] for i in op.outputs]
    sg.inputs = [remap[i] for i in sg.inputs]
    sg.outputs = [remap[i] for i in sg.outputs]

    def tensor_map(i: int):
        t = schema.TensorMapT()
        name = sg.tensors[i].name
        t.name = name.decode() if isinstance(name, bytes) else name
        t.tensorIndex = i
        return t

    sig = schema.SignatureDefT()
    sig.signatureKey, sig.subgraphIndex = "serving_default", 0
    sig.inputs = [tensor_map(i) for i in sg.inputs]
    sig.outputs = [tensor_map(i) for i in sg.outputs]
    m.signatureDefs = [sig]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(m)), sig.inputs[0].name


def calibration_crops(work: Path) -> list[np.ndarray]:
    """Landmark-model inputs cut by the pipeline itself from generated footage."""
    from edge.synth.render import SynthSpec, generate

    out = []
    for identity in CALIBRATION_IDENTITIES:
        spec = SynthSpec(out_dir=str(work), identity=identity, seed=CALIBRATION_SEED,
                         duration_s=CALIBRATION_SECONDS, micro=1, macro=0)
        video = generate(spec).video
        pipe = FacePipeline(threads=1)
        with VideoFileSource(video) as src:
            for f in src.frames():
                if pipe.process(f).face and f.index % CALIBRATION_EVERY == 0:
                    out.append(pipe.landmarker._crop.astype(np.float32)[None] / 255.0)
    return out


def quantize(float_model: Path, out: Path, work: Path) -> None:
    from ai_edge_quantizer import quantizer

    buf, input_name = folded_float_model(float_model)
    crops = calibration_crops(work)
    q = quantizer.Quantizer(buf)
    q.load_quantization_recipe(Path(quantizer.__file__).parent / "recipes" / "default_a8w8_recipe.json")
    calibration = q.calibrate({"serving_default": [{input_name: x} for x in crops]})
    out.write_bytes(q.quantize(calibration).quantized_model)
    print(f"wrote {out} ({out.stat().st_size} bytes) from {len(crops)} calibration crops", file=sys.stderr)


class Int8Landmarker(FaceLandmarker):
    """The int8-in, int8-out model: crop uint8 p becomes int8 p - 128 (scale 1/255, zero point -128)."""

    def __init__(self, interpreter) -> None:
        super().__init__(interpreter)
        scale, zero = interpreter.get_input_details()[0]["quantization"]
        if abs(scale * 255.0 - 1.0) > 1e-6 or zero != -128:
            raise SystemExit(f"unexpected input quantisation {scale}, {zero}")
        self._q = {d["index"]: d["quantization"] for d in interpreter.get_output_details()}

    def run(self, image: np.ndarray, roi) -> tuple[np.ndarray, float]:
        m = roi.crop_to_image(INPUT)
        cv2.warpAffine(image, m, (INPUT, INPUT), dst=self._crop,
                       flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
        tensor = self._it.tensor(self._in_index)
        np.bitwise_xor(self._crop, 0x80, out=tensor()[0].view(np.uint8))
        del tensor
        self._it.invoke()
        s, z = self._q[self._mesh_index]
        raw = (self._it.get_tensor(self._mesh_index).reshape(N_LANDMARKS, 3).astype(np.float32) - z) * s
        s, z = self._q[self._presence_index]
        logit = (float(self._it.get_tensor(self._presence_index).reshape(-1)[0]) - z) * s
        out = np.empty((N_LANDMARKS, 3), dtype=np.float32)
        out[:, :2] = raw[:, :2] @ m[:, :2].T + m[:, 2]
        out[:, 2] = raw[:, 2] * (roi.size / INPUT)
        return out, 1.0 / (1.0 + math.exp(-max(-100.0, min(100.0, logit))))


def evaluate(float_model: Path, int8_model: Path, clip: Path, threads: int) -> dict:
    pipe = FacePipeline(threads=1)
    models = {"float": FaceLandmarker(load_interpreter(float_model, threads)),
              "int8": Int8Landmarker(load_interpreter(int8_model, threads))}
    with VideoFileSource(clip) as src:
        frames = list(src.frames())
    ms: dict[str, list[float]] = {k: [] for k in models}
    errors = []
    roi = None
    for i, f in enumerate(frames):
        res = pipe.process(f)
        if roi is not None and res.face:
            out = {}
            for name in (("float", "int8") if i % 2 else ("int8", "float")):
                t0 = time.perf_counter_ns()
                out[name] = models[name].run(f.image, roi)[0]
                ms[name].append((time.perf_counter_ns() - t0) / 1e6)
            a, b = out["float"], out["int8"]
            iod = float(np.linalg.norm(a[RIGHT_EYE_OUTER, :2] - a[LEFT_EYE_OUTER, :2]))
            errors.append(float(np.linalg.norm(a[:, :2] - b[:, :2], axis=1).mean()) / iod)
        roi = pipe._roi
    e = np.asarray(errors)
    p50 = {k: float(np.median(v)) for k, v in ms.items()}
    return {
        "clip": clip.name, "frames": len(errors), "threads": threads,
        "error_pct_of_eye_distance": {"mean": round(100 * float(e.mean()), 3),
                                      "p99": round(100 * float(np.percentile(e, 99)), 3),
                                      "max": round(100 * float(e.max()), 3)},
        "ms_per_frame_p50": {k: round(v, 3) for k, v in p50.items()},
        "ms_per_frame_mean": {k: round(float(np.mean(v)), 3) for k, v in ms.items()},
        "speedup_p50": round(p50["float"] / p50["int8"], 3),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "models" / "face_landmark_int8.tflite")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--skip-quantize", action="store_true", help="evaluate an existing --out")
    args = ap.parse_args()
    float_model = verify(load_manifest(None), "face_landmark")
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_quantize:
            quantize(float_model, args.out, Path(tmp))
        print(json.dumps(evaluate(float_model, args.out, synth_clip(), args.threads), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
