"""The check_student component."""

from components.check_student.component import check_student

__all__ = ["check_student"]
