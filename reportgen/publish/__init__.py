"""Publish wing: figures, pages and the site, read from the results store only."""

# What the worker processes that publish a report import (workers.Imports): named here, where
# naming them imports nothing, so that a command can have its fork server import them while the
# command itself starts (reportgen.cli). The pages' modules, the charts', and both: what a worker
# that also draws figures imports.
PAGE_MODULES = ("reportgen.publish.render_job", "reportgen.publish.earlier")
CHART_MODULES = ("matplotlib.style", "matplotlib.backends.backend_agg", "matplotlib.figure")
WORKER_MODULES = (*PAGE_MODULES, *CHART_MODULES)
