"""Conformance suites, one folder per domain; each test cites its requirement ids."""
