"""Fixtures shared by the test modules that run the app (each defines its own ``app_server``)."""

import pytest


@pytest.fixture(scope="module")
def client(app_server):
    """A gradio_client for the module's app (``app_server`` yields (url, ...))."""
    from gradio_client import Client

    return Client(app_server[0], verbose=False)
