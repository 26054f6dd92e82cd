"""Workflows over files (prepare, train, enroll, search, evaluate) and the ``facerec`` CLI."""
