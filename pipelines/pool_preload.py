"""Imported by the CPU pool's fork server (:mod:`pipelines.cpu_pool`) before it forks the first
worker: what every worker needs is loaded here, once for all of them, and each worker forked
from the server starts with it (the imports, the default taxonomy, the language model, the
MinHash permutations, the fact patterns): a second or two of CPU per worker saved.

Nothing else imports this module: importing it is the warm-up.
"""

from __future__ import annotations

from pipelines.page_analysis import PageJob, prepare_worker

prepare_worker(PageJob(taxonomy_path=None, facts=True))
