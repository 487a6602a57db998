"""Evaluation: exact match, chrF++ and BERTScore, the teacher baseline, and the HTML report.

Importing this package is cheap: torch, bert-score, sacrebleu, matplotlib and jinja2 load on first use.
"""

from p2m_lib.evaluate.metrics import bertscore, chrf, exact_match, normalize, score
from p2m_lib.evaluate.report import render_report, write_report

__all__ = ["bertscore", "chrf", "exact_match", "normalize", "render_report", "score", "write_report"]
