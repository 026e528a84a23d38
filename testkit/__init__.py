"""The kit shared by the tests and the benchmarks: servers on free ports, zones, load, /proc."""
