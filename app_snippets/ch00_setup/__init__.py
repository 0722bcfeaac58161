"""Chapter 00: the quick-start apps, one task on each library and one slow FastAPI route."""
