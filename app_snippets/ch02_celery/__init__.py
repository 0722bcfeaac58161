"""Chapter 02: Celery, from task status to retries, limits, canvas and beat; the tutorial's
Celery app reproduced (article_celery/) and fixed."""
