"""One scheduler for per-slide jobs: serial, a local process pool, or Ray; a ledger in the output
folder makes every run resumable (docs/scheduler.md). Qt-free and torch-free."""

from core.schedule.job import SlideJob, job_settings_key
from core.schedule.ledger import Ledger, ledger_folder
from core.schedule.runner import ENGINES, LedgerSummary, default_workers, run_jobs
from core.schedule.slide_step import SlideResult

__all__ = ["SlideJob", "job_settings_key", "Ledger", "ledger_folder", "ENGINES", "LedgerSummary",
           "default_workers", "run_jobs", "SlideResult"]
