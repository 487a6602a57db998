"""Process: datasets on disk to examples, the paper's textualisation, and train/val/test splits."""

from p2m_lib.process.datasets import dataset_pairs, load_pairs, open_dataset
from p2m_lib.process.splits import SPLIT_NAMES, make_splits, read_split, write_splits
from p2m_lib.process.template import DECODER_ONLY, ENCODER_DECODER, TEMPLATE_FILE, ModelKind, TaskTemplate

__all__ = [
    "DECODER_ONLY",
    "ENCODER_DECODER",
    "SPLIT_NAMES",
    "TEMPLATE_FILE",
    "ModelKind",
    "TaskTemplate",
    "dataset_pairs",
    "load_pairs",
    "make_splits",
    "open_dataset",
    "read_split",
    "write_splits",
]
