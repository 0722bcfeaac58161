"""Chapter 06, pitfalls II: what delivery does to your tasks (retries, floods, duplicates,
lost writes, Redis outages), on Celery, RQ and Dramatiq side by side."""
