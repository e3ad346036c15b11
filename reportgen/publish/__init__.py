"""Publish wing: figures, pages and the site, read from the results store only."""
