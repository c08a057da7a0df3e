"""The {{plugin_id}} Magellon plugin.

    plugin/compute.py  the algorithm, as pure functions you can unit-test
    plugin/plugin.py   the class the runtime calls: execute(input, reporter) -> dict
"""
