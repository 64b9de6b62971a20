"""The QA report: thumbnails and histograms per item, then one HTML page per run."""
