"""The report: an HTML page with figures, and CSV/JSON exports, built from stored results only."""

from rnnbench.report.export import export_csv, export_results
from rnnbench.report.html import build_report

__all__ = ["build_report", "export_csv", "export_results"]
