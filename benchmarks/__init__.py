"""asv benchmarks of rnnbench and the side-by-side comparison with PyTorch."""
