"""The local Waterbear server (``motivus loopback``): protocol logic and websocket server."""
