"""Projects: training code packaged so that anyone starts a run the same way, runs reproduced
with a verdict, and hyperparameter sweeps over local processes, Dask or Ray.

    from runstone import projects
    result = projects.run("path/to/project", "train", {"alpha": 0.5})
    verdict = projects.reproduce(result.run_id)
"""

from __future__ import annotations

from runstone.projects.capture import log_environment
from runstone.projects.reproduction import reproduce
from runstone.projects.runner import ProjectRun, run
from runstone.projects.spec import EntryPoint, Parameter, Project, load_project
from runstone.projects.sweep import SweepResult, sweep
from runstone.projects.verdict import Verdict, parse_tolerances

__all__ = [
    "EntryPoint",
    "Parameter",
    "Project",
    "ProjectRun",
    "SweepResult",
    "Verdict",
    "load_project",
    "log_environment",
    "parse_tolerances",
    "reproduce",
    "run",
    "sweep",
]
