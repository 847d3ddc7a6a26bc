"""The service: the REST API and web UI on Bottle, and what runs them."""
