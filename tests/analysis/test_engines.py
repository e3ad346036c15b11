"""What every engine shares (engines.base), without a model."""

from types import SimpleNamespace

import pytest

from reportgen.analysis.engines.base import Hit, deliver
from reportgen.analysis.sources.base import ItemTag
from reportgen.errors import ReportgenError


def test_an_image_finished_after_its_results_folder_was_removed_is_not_stored(tmp_path):
    """A failed build removes its staging while engine workers may still finish images: they
    must not make the folder again (it would be left in the site)."""
    removed = tmp_path / "site" / ".reportgen-staging-1" / "report" / "data" / "maps"
    job = SimpleNamespace(maps_dir=removed)
    hit = Hit(ItemTag(0, "cat.png", None, "cat.png"), "0" * 64, None, {})
    with pytest.raises(ReportgenError, match="was removed while reportgen ran"):
        deliver(hit, job)
    assert not (tmp_path / "site").exists()
