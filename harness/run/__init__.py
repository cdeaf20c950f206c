"""Running suites against a product: the pytest plugin, `segur run`, the environment of mocks,
SUT adapters, verifiers, the scripted browser, the operator console, replay and rejudge.
"""
