"""The Magellon sample plugin: a minimal worked example for plugin authors.

Layout (every Magellon plugin in this repository looks the same):
    plugin/compute.py  the algorithm, as pure functions you can unit-test
    plugin/plugin.py   the class the runtime calls: execute(input, reporter) -> dict
"""
