"""The node's web UI: server-rendered pages over the same service and store
functions as the JSON API, with small progressive-enhancement scripts."""
