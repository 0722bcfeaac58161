"""Chapter 04: Dramatiq, its broker, retries, limits, results and schedules; the tutorial's
upload-and-resize app reproduced (article_dramatiq/)."""
