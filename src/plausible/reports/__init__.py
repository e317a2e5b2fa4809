"""Run documents: ``report.md``, evaluation sections and comparison tables, written atomically.

Every file here is written by :mod:`plausible.io`'s one atomic writer, so every document of a run
folder has the same file mode whichever command wrote it last.
"""

from plausible.reports.comparison import (
    LoadedRun,
    add_to_run_reports,
    compare_runs,
    comparison_figures,
    comparison_markdown,
    markdown_table,
    write_comparison,
)
from plausible.reports.evaluation import (
    SUITE_MARKER,
    reattach_sections,
    report_section,
    suite_figures,
    summary_section,
    update_report,
    write_evaluation,
)
from plausible.reports.formatting import format_estimate, format_value
from plausible.reports.run_report import relative_link, write_report

__all__ = [
    "SUITE_MARKER",
    "LoadedRun",
    "add_to_run_reports",
    "compare_runs",
    "comparison_figures",
    "comparison_markdown",
    "format_estimate",
    "format_value",
    "markdown_table",
    "reattach_sections",
    "relative_link",
    "report_section",
    "suite_figures",
    "summary_section",
    "update_report",
    "write_comparison",
    "write_evaluation",
    "write_report",
]
