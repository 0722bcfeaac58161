"""Chapter 05: pitfalls in what your code hands the queue, on Celery, RQ and Dramatiq."""
