"""The marketplace's client side: ``api`` (the registry's HTTP API, httpx), ``push`` (what
``motivus push`` runs) and ``resolve`` (what drivers use to find an algorithm). It shares the
rules (:mod:`motivus_dev.marketplace.validation`) with the server and never imports it."""
