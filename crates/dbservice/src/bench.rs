//! Benchmark measuring code (filled in below).
