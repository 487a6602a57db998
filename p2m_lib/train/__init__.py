"""Train: fine-tune the student model on the splits and predict with the result.

torch and transformers are imported inside the functions that need them, so importing this
package stays cheap.
"""

from p2m_lib.train.checkpoints import last_complete_checkpoint
from p2m_lib.train.encoding import IGNORE_INDEX, encode_example, make_collator, truncate_middle
from p2m_lib.train.predict import StudentPredictor
from p2m_lib.train.recipe import planned_steps
from p2m_lib.train.student import default_student, model_kind, resolve_student
from p2m_lib.train.trainer import train

__all__ = [
    "IGNORE_INDEX",
    "StudentPredictor",
    "default_student",
    "encode_example",
    "last_complete_checkpoint",
    "make_collator",
    "model_kind",
    "planned_steps",
    "resolve_student",
    "train",
    "truncate_middle",
]
