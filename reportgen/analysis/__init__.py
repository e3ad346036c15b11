"""Analysis wing: images in, attention records out (model loading, extraction, orchestration)."""
