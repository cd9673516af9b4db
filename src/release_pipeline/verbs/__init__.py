"""The verbs: plan/merge, promote, status, preflight and the release flow.

Each verb turns a validated spec (`rules.specs`) into registry reads and writes through
`registry.client`, and returns a report (`verbs.report`) that both faces render.
"""
