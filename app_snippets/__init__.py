"""The teaching code: small FastAPI apps and task modules the notebooks start and show."""
