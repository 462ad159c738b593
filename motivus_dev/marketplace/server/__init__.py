"""The marketplace's server side: ``store`` (SQLite and blobs), ``app`` (the HTTP API,
starlette + uvicorn) and ``admin`` (users, tokens, algorithms). Nothing is imported here."""
