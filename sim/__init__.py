"""The simulated DigitalOcean: what each resource type returns, what replaces it, the order of creates and destroys.

It runs the real program under the Pulumi SDK's mocks. The offline plan, the
graph tests and the local cloud all go through it, so they cannot disagree
about what DigitalOcean would do.
"""
