"""Reports: one self-contained HTML page per run or comparison of runs, and paper tables.

Reads run directories only (``reports.runs``), builds the comparison with its statistics
(``reports.compare``, ``reports.stats``), and renders it (``reports.html``, ``reports.tables``).
"""
