"""Chapter 01: FastAPI BackgroundTasks, what it does well and where it loses work."""
