"""The marketplace, in two parts sharing one rules module (:mod:`.validation`):

- :mod:`.client`: ``push``, the drivers' ``resolve`` and the HTTP ``api`` they use; it never
  imports the server;
- :mod:`.server`: the registry a team hosts: its ``store``, the HTTP ``app`` and ``admin``.

See docs/marketplace.md. Nothing is imported here, so ``import
motivus_dev.marketplace.server.admin`` stays fast and the HTTP stack (starlette, uvicorn,
httpx) loads only with the module that needs it.
"""
