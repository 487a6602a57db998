"""Check student: the student named by the pipeline, checked before generation is paid for."""

from components.images import p2m_component


@p2m_component()
def check_student(student: str = "") -> str:
    """Pass the student through, failing early when it names a model folder that does not exist.

    The pipeline runs this step when no model index is given; otherwise retrieve_model chooses.

    Args:
        student: A model folder or hub name; empty for the embedded SmolLM2.

    Returns:
        The student, unchanged.
    """
    from p2m_lib.train import resolve_student

    if student:
        resolve_student(student)
    return student
