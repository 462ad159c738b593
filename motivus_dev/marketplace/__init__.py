"""The marketplace: a local registry server (``server``), its administration (``admin``),
``push`` and the drivers' ``resolve``. See docs/marketplace.md.

Nothing is imported here, so ``import motivus_dev.marketplace.admin`` stays fast and the
HTTP stack (starlette, uvicorn, httpx) loads only with the module that needs it.
"""
