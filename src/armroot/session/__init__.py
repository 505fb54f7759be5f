"""A session, from request to outcome."""
