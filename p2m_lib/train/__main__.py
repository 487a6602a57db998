"""`python -m p2m_lib.train --task T --data D --model M --checkpoints C --training JSON [--student S]`:
one process of a training run, as torchrun starts it in every process (`p2m_lib.train.distributed`).

Run on its own, it trains in this one process.
"""

import sys

from p2m_lib.stages import train_stage
from p2m_lib.train.distributed import TrainRequest, local_main_first
from p2m_lib.train.student import resolve_student

request = TrainRequest.from_arguments(sys.argv[1:])
# An embedded student is converted once per machine, by its first process, before the others read it.
with local_main_first():
    student = resolve_student(request.student)
train_stage(
    request.task_path,
    request.data_dir,
    str(student),
    request.config,
    request.model_dir,
    request.checkpoints_dir,
)
