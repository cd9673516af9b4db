"""Registry I/O: the distribution-spec client and nothing else (no release policy).

`client` holds the verbs (manifests, blobs, tag lists), `session` how each request is sent,
`auth`, `retries`, `answers` and `transport` one concern each, `routes` how a registry is
reached, `concurrency` bounded concurrent requests.
"""
