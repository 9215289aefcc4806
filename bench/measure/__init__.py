"""What the benchmarks measure: each module runs one benchmark against a Stack and returns its results."""
